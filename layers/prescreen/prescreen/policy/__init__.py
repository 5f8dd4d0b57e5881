"""Policies: YAML files (FORMAT.md) -> validated Policy (loader) -> CompiledPolicy (engine) -> rule hits.

Providers (provider.py) hand out compiled policies by name: the bundled files, or S3 / AppConfig with a
background refresh.
"""

from prescreen.policy.engine import CompiledPolicy, compile_policy
from prescreen.policy.loader import Policy, PolicyError, UnknownPolicyError, build_policy, load_policy
from prescreen.policy.provider import BundledPolicyProvider, PolicyProvider, RemotePolicyProvider

__all__ = [
    "BundledPolicyProvider",
    "CompiledPolicy",
    "Policy",
    "PolicyError",
    "PolicyProvider",
    "RemotePolicyProvider",
    "UnknownPolicyError",
    "build_policy",
    "compile_policy",
    "load_policy",
]
