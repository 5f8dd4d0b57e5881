"""The operators' console in a real headless Chromium, against `prescreen serve` and `prescreen receive`.

An operator signs in with the dev token, finds a held listing in the review queue, opens it (by keyboard too),
sees the seller's words that triggered the hold highlighted, claims it, blocks it with a note, sees it leave the
queue and the audit trail grow, reads the statement of reasons, and the marketplace's receiver gets the callback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from prescreen.local.dynamodb import free_port
from support.transparency_db import statement_problems

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "layers" / "prescreen" / "prescreen"
REVIEW_EVENT = REPO / "events" / "screen" / "review_adult_doll_weak_cue.json"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STEP_TIMEOUT_MS = 10_000
AGE = re.compile(r"^\d+ (s|min|h|d)$")


def _prescreen() -> str:
    beside = Path(sys.executable).with_name("prescreen")
    found = str(beside) if beside.exists() else shutil.which("prescreen")
    assert found, "the `prescreen` command is not installed in this environment"
    return found


def _environment() -> dict[str, str]:
    """This environment without PRESCREEN_* settings: each process configures itself from its own flags."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PRESCREEN_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_for_port(port: int, process: subprocess.Popen[Any], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{what} exited early with status {process.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{what} did not listen on port {port} within {timeout:.0f} s")


def _dev_operator_token() -> str:
    operators: dict[str, dict[str, Any]] = json.loads((PACKAGE / "local" / "operators.json").read_text())
    return next(token for token, entry in operators.items() if entry["operator"] == "dev-operator")


def _demo() -> dict[str, Any]:
    marketplaces: dict[str, dict[str, Any]] = json.loads((PACKAGE / "local" / "marketplaces.json").read_text())
    return marketplaces["demo"]


@dataclass
class Receiver:
    port: int
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def collect(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))


@dataclass(frozen=True)
class Server:
    url: str
    tenants: Path
    log: Path


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    port = free_port()
    process = subprocess.Popen(
        [_prescreen(), "receive", "--port", str(port), "--secret", _demo()["secrets"][0]],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_environment(), cwd=REPO,
    )
    try:
        found = Receiver(port, process)
        assert process.stdout is not None
        threading.Thread(target=found.collect, args=(process.stdout,), daemon=True).start()
        _wait_for_port(port, process, "prescreen receive")
        yield found
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def server(receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("console")
    marketplaces = json.loads((PACKAGE / "local" / "marketplaces.json").read_text())
    marketplaces["demo"]["callback_url"] = f"http://127.0.0.1:{receiver.port}/callbacks"
    tenants = folder / "marketplaces.json"
    tenants.write_text(json.dumps(marketplaces))
    port, dynamodb_port = free_port(), free_port()
    log = folder / "serve.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [_prescreen(), "serve", "--no-classifier", "--host", "127.0.0.1", "--port", str(port),
             "--dynamodb-port", str(dynamodb_port), "--tenants", str(tenants)],
            stdout=output, stderr=subprocess.STDOUT, env=_environment(), cwd=REPO,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 45
        while True:
            assert process.poll() is None, f"prescreen serve exited early:\n{log.read_text()}"
            try:
                with urllib.request.urlopen(f"{url}/console", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"prescreen serve did not answer /console within 45 s:\n{log.read_text()}")
            time.sleep(0.2)
        yield Server(url, tenants, log)
    finally:
        _stop(process)


def _send(server: Server, tmp_path: Path, **changes: str) -> dict[str, Any]:
    """Screen the held-for-review listing (optionally changed) through the real webhook; its decision."""
    listing = json.loads(json.loads(REVIEW_EVENT.read_text())["body"])
    listing.update(changes)
    body = tmp_path / f"listing-{time.monotonic_ns()}.json"
    body.write_text(json.dumps(listing, ensure_ascii=False), encoding="utf-8")
    completed = subprocess.run(
        [_prescreen(), "send", str(body), "--url", server.url, "--tenants", str(server.tenants)],
        capture_output=True, text=True, timeout=30, check=False, env=_environment(), cwd=REPO,
    )
    assert completed.returncode == 0, completed.stderr + completed.stdout
    decision: dict[str, Any] = json.loads(completed.stdout)
    assert decision["decision"] == "review", decision
    return decision


def _title_evidence(decision: dict[str, Any]) -> list[str]:
    return [hit["text"] for reason in decision["reasons"] for hit in reason.get("evidence", [])
            if hit["field"] == "/title"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Chromium is expected at /usr/bin/chromium"
    expect.set_options(timeout=STEP_TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    context.set_default_timeout(STEP_TIMEOUT_MS)
    errors: list[str] = []
    opened = context.new_page()
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
        assert not errors, f"JavaScript errors in the console page: {errors}"
    finally:
        context.close()


def _sign_in(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/console")
    page.get_by_label("Operator token").fill(_dev_operator_token())
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def _queue_row(page: Page, decision_id: str) -> Locator:
    return page.locator(f'#queue-rows tr[data-decision-id="{decision_id}"]')


def test_an_operator_blocks_a_held_listing_and_the_marketplace_is_called_back(
    page: Page, server: Server, receiver: Receiver, tmp_path: Path
) -> None:
    started = time.monotonic()
    decision = _send(server, tmp_path)
    decision_id = decision["decision_id"]
    words = _title_evidence(decision)
    assert words, f"the held listing has no evidence in its title: {decision['reasons']}"

    _sign_in(page, server)
    expect(page.get_by_text("Signed in as dev-operator")).to_be_visible()
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()

    # In the queue: title, categories, a human age, nobody holding it.
    row = _queue_row(page, decision_id)
    expect(row).to_have_count(1)
    expect(row.get_by_role("link", name="Petite love doll, 145 cm, TPE")).to_be_visible()
    cells = row.get_by_role("cell")
    assert AGE.match(cells.nth(4).inner_text().strip()), cells.nth(4).inner_text()
    expect(cells.nth(5)).to_have_text("—")
    expect(cells.nth(3)).not_to_be_empty()

    # Open it: the seller's words behind the hold are highlighted in the listing.
    row.get_by_role("link").click()
    detail = page.get_by_role("region", name="Petite love doll, 145 cm, TPE")
    expect(detail.get_by_role("heading", level=2)).to_have_text("Petite love doll, 145 cm, TPE")
    listing = detail.get_by_role("region", name="Listing")
    marks = listing.locator("mark")
    expect(marks.first).to_be_visible()
    title_marks = listing.get_by_role("definition").first.locator("mark").all_inner_texts()
    highlighted = " ".join(title_marks)
    for word in words:
        assert word in highlighted, (word, title_marks)
    for mark in title_marks:
        assert any(mark in word for word in words), (mark, words)
    expect(detail.get_by_role("region", name="Reasons").get_by_role("listitem").first).to_be_visible()

    # Claim it, then block it with a note.
    detail.get_by_role("button", name="Claim").click()
    expect(page.get_by_role("status")).to_contain_text("Claimed")
    expect(detail.get_by_text("Claimed by you until")).to_be_visible()
    expect(row.get_by_role("cell").nth(5)).to_have_text("dev-operator")
    detail.get_by_role("radio", name="Block").check()
    detail.get_by_label("Note").fill("Child-like proportions in the photos; see the seller's other listings.")
    detail.get_by_role("button", name="Record verdict").click()
    expect(page.get_by_role("status")).to_contain_text("Verdict block recorded")

    # It left the queue; the detail shows the verdict, the audit trail and the reopen form.
    expect(_queue_row(page, decision_id)).to_have_count(0)
    expect(detail.get_by_text("Decided: block by dev-operator")).to_be_visible()
    audit = detail.get_by_role("table", name="Changes to this decision")
    for action in ("claim", "review"):
        entry = audit.get_by_role("row").filter(has=page.get_by_role("cell", name=action, exact=True))
        expect(entry).to_have_count(1)
        expect(entry.get_by_role("cell", name="dev-operator", exact=True)).to_be_visible()
    expect(audit.get_by_role("row").filter(has_text="Child-like proportions")).to_have_count(1)
    expect(detail.get_by_label("Reason for reopening")).to_be_visible()
    expect(detail.get_by_role("table", name="Callback deliveries")).to_be_visible()

    # The statement of reasons, fetched with the operator's token.
    detail.get_by_role("button", name="Show statement of reasons").click()
    statement = detail.get_by_role("region", name="Statement of reasons JSON")
    expect(statement).to_contain_text("DECISION_GROUND")
    expect(detail.get_by_role("link", name="Download statement of reasons")).to_be_visible()
    # What the console shows is the Transparency Database's body, and it passes the field rules.
    shown = json.loads(statement.inner_text())
    assert statement_problems(shown) == []
    assert shown["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"

    # The marketplace's receiver got the verified callback for this decision, saying block.
    deadline = time.monotonic() + 20
    while (callback := _callback_for(receiver.lines, decision_id)) is None:
        assert time.monotonic() < deadline, f"no callback for {decision_id}: {receiver.lines}"
        time.sleep(0.25)
    assert callback["verified"] is True
    assert callback["payload"]["type"] == "decision.reviewed"
    assert callback["payload"]["data"]["decision"] == "block"
    assert callback["payload"]["data"]["statement_of_reasons"] == f"/v1/decisions/{decision_id}/statement-of-reasons"

    # And the console shows it delivered (the notifier records the delivery just after the receiver answers).
    delivered = page.get_by_role("table", name="Callback deliveries").get_by_role("cell", name="delivered", exact=True)
    deadline = time.monotonic() + 10
    while True:
        page.reload()
        expect(page.get_by_role("heading", level=2, name="Petite love doll, 145 cm, TPE")).to_be_visible()
        if delivered.count():
            break
        assert time.monotonic() < deadline, "the console never showed the callback as delivered"
        time.sleep(0.5)
    assert time.monotonic() - started < 60


def _callback_for(lines: list[str], decision_id: str) -> dict[str, Any] | None:
    """The verified callback `prescreen receive` printed for `decision_id`, if any.

    Each line is `{"webhook_id", "verified", "payload": {"type", "timestamp", "data": {...}}}`.
    """
    for line in list(lines):
        try:
            document = json.loads(line)
        except json.JSONDecodeError:
            continue
        payload = document.get("payload") if isinstance(document, dict) else None
        data = payload.get("data") if isinstance(payload, dict) else None
        if isinstance(data, dict) and data.get("decision_id") == decision_id:
            found: dict[str, Any] = document
            return found
    return None


def test_the_console_is_operable_by_keyboard(page: Page, server: Server, tmp_path: Path) -> None:
    decision = _send(server, tmp_path)
    page.goto(f"{server.url}/console")

    # A refused token: the problem's detail is announced and the sign-in form stays.
    token = page.get_by_label("Operator token")
    expect(token).to_be_focused()
    expect(token).to_have_attribute("type", "password")
    page.keyboard.type("not-a-real-operator-token")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("not recognised")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    token.focus()
    page.keyboard.type(_dev_operator_token())
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    # Tab from the top of the page to the queue row's link, then open it with Enter.
    link = _queue_row(page, decision["decision_id"]).get_by_role("link")
    expect(link).to_be_visible()
    for _ in range(60):
        page.keyboard.press("Tab")
        if link.evaluate("element => element === document.activeElement"):
            break
    else:
        pytest.fail("the queue row's link is not reachable with Tab")
    outline = link.evaluate("element => getComputedStyle(element).outlineStyle")
    assert outline != "none", "keyboard focus is not visible"
    page.keyboard.press("Enter")
    heading = page.get_by_role("heading", level=2, name="Petite love doll, 145 cm, TPE")
    expect(heading).to_be_focused()
    expect(page.get_by_role("button", name="Claim")).to_be_visible()

    # Claim by keyboard: Tab to the button, Enter; focus lands on the verdict choices.
    claim = page.get_by_role("button", name="Claim")
    for _ in range(60):
        page.keyboard.press("Tab")
        if claim.evaluate("element => element === document.activeElement"):
            break
    else:
        pytest.fail("the Claim button is not reachable with Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("radio", name="Allow")).to_be_focused()
    expect(page.get_by_role("button", name="Release")).to_be_visible()

    # Escape closes the item and gives focus back to its row.
    page.keyboard.press("Escape")
    expect(heading).to_be_hidden()
    expect(link).to_be_focused()


def test_seller_text_is_inert_and_evidence_offsets_count_code_points(
    page: Page, server: Server, tmp_path: Path
) -> None:
    # Markup in a title stays text; an emoji (two UTF-16 units) before the evidence must not shift the highlight.
    title = "🎎 <img src=x onerror=window.pwned=1> Petite love doll, 145 cm, TPE"
    decision = _send(server, tmp_path, id="en-5005-inert", title=title)
    words = _title_evidence(decision)
    assert words, decision["reasons"]
    _sign_in(page, server)
    _queue_row(page, decision["decision_id"]).get_by_role("link").click()
    heading = page.get_by_role("heading", level=2, name=title, exact=True)
    expect(heading).to_have_text(title)
    assert page.locator("#detail img").count() == 0
    assert page.evaluate("window.pwned") is None
    marks = page.get_by_role("region", name="Listing").locator("mark").all_inner_texts()
    for word in words:
        assert word in marks, (word, marks)


def test_the_pure_helpers(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/console")
    expect(page.get_by_label("Operator token")).to_be_visible()
    results = page.evaluate("""async () => {
        const m = await import('/console/assets/app.js');
        return {
            ages: [0, 59, 300, 10800, 172800].map(m.humanAge),
            // overlapping spans and a surrogate pair: flat segments, code-point offsets
            segments: m.segmentText('a😀bcd', [{start: 1, end: 3}, {start: 2, end: 4}]),
            pointer: m.resolvePointer({attributes: {'a/b~c': 'x'}}, m.attributePointer('a/b~c')),
            url: m.authorizeUrl({domain: 'https://p.auth.eu-west-1.amazoncognito.com', clientId: 'c1',
                                 redirectUri: 'https://h.example/console', scopes: ['openid', 'email'],
                                 state: 's1', codeChallenge: 'ch'}),
            token: m.tokenRequest({domain: 'https://p.auth.eu-west-1.amazoncognito.com', clientId: 'c1',
                                   redirectUri: 'https://h.example/console', code: 'k', codeVerifier: 'v'}),
        };
    }""")
    assert results["ages"] == ["0 s", "59 s", "5 min", "3 h", "2 d"]
    assert results["segments"] == [
        {"text": "a", "spans": []}, {"text": "😀", "spans": [0]}, {"text": "b", "spans": [0, 1]},
        {"text": "c", "spans": [1]}, {"text": "d", "spans": []},
    ]
    assert results["pointer"] == "x"
    url = results["url"]
    assert url.startswith("https://p.auth.eu-west-1.amazoncognito.com/oauth2/authorize?")
    for part in ("response_type=code", "client_id=c1", "redirect_uri=https%3A%2F%2Fh.example%2Fconsole",
                 "scope=openid+email", "state=s1", "code_challenge=ch", "code_challenge_method=S256"):
        assert part in url, url
    assert results["token"]["url"] == "https://p.auth.eu-west-1.amazoncognito.com/oauth2/token"
    assert "grant_type=authorization_code" in results["token"]["body"]
    assert "code_verifier=v" in results["token"]["body"]
