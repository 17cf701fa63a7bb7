#!/usr/bin/env python3
"""A supplier's test harness, written against the client openapi-python-client generates from
openapi/openapi.json: the whole UIT workflow, with the answers checked at every step.

    workflow.py BASE_URL CLIENT_PARENT_DIR

CLIENT_PARENT_DIR holds the generated package `uit_portal_client`. The server must have the
demo industry loaded (`uit-portal seed-demo`): the supplier Northern Lights, its admin
admin@northern-lights.demo (password uit-demo-password) and the open window UIT-2026-11.
.ci/client.sh generates the client, starts such a server and runs this.

Every call goes through the generated code (`<operation>.sync_detailed`), never raw HTTP: if
the spec and the server disagree on a path, a parameter, a body or a response shape, this
fails. Each step prints one line, so a failure shows how far the workflow got.
"""
import io
import sys
import uuid
from datetime import datetime, timezone

BASE_URL, CLIENT_DIR = sys.argv[1], sys.argv[2]
sys.path.insert(0, CLIENT_DIR)

# ruff: noqa: E402 (the generated package is importable only after the path is set)
from uit_portal_client import AuthenticatedClient, Client
from uit_portal_client.api.auth import login
from uit_portal_client.api.claims import create_claim, list_claims
from uit_portal_client.api.me import create_api_token, get_me, list_api_tokens, revoke_api_token
from uit_portal_client.api.operations import readyz
from uit_portal_client.api.results import (
    create_result,
    create_result_batch,
    get_result,
    list_result_revisions,
    list_results,
    upload_junit,
)
from uit_portal_client.api.uit_windows import get_window_coverage, get_window_matrix, list_uit_windows
from uit_portal_client.models import (
    CoverageState,
    JunitForm,
    LoginRequest,
    NewApiToken,
    NewClaim,
    Outcome,
    Problem,
    ResultBatch,
    ResultInput,
    Visibility,
    WindowStatus,
    WriteOutcome,
)
from uit_portal_client.types import UNSET, File

SUPPLIER_EMAIL = "admin@northern-lights.demo"
PASSWORD = "uit-demo-password"
WINDOW_NAME = "UIT-2026-11"


def call(operation, expect, **kwargs):
    """Runs `operation.sync_detailed(**kwargs)`, checks the status and returns the parsed body."""
    resp = operation.sync_detailed(**kwargs)
    name = operation.__name__.rsplit(".", 1)[-1]
    if resp.status_code != expect:
        raise AssertionError(f"{name}: expected {expect}, got {resp.status_code}: {resp.content[:500]!r}")
    if expect >= 400:
        assert isinstance(resp.parsed, Problem), f"{name}: {expect} without a problem body: {resp.content[:300]!r}"
    elif expect != 204:
        assert resp.parsed is not None and not isinstance(resp.parsed, Problem), f"{name}: {resp.content[:300]!r}"
    return resp.parsed


def step(text):
    print(f"  ok  {text}", flush=True)


def all_pages(operation, **kwargs):
    """Every item of a paginated list, following `next_cursor`."""
    items, cursor = [], UNSET
    while True:
        page = call(operation, 200, cursor=cursor, **kwargs)
        items.extend(page.items)
        if not page.next_cursor:
            return items
        cursor = page.next_cursor


def main():
    public = Client(base_url=BASE_URL, raise_on_unexpected_status=True)
    health = call(readyz, 200, client=public)
    step(f"readyz: {health.status}")

    # 1. Log in with a password, then create an API token and continue with it, as a CI job
    # would after a one-off set-up. The spec marks login as public with `security: [{}]`, which
    # this generator reads as "needs AuthenticatedClient"; a plain Client works at run time.
    pair = call(login, 200, client=public, body=LoginRequest(email=SUPPLIER_EMAIL, password=PASSWORD))
    assert pair.token_type == "Bearer" and pair.expires_in > 0 and pair.refresh_token, pair
    session = AuthenticatedClient(base_url=BASE_URL, token=pair.access_token, raise_on_unexpected_status=True)
    step(f"logged in as {SUPPLIER_EMAIL} (access token for {pair.expires_in} s)")

    token_name = f"harness {uuid.uuid4().hex[:8]}"
    created = call(create_api_token, 201, client=session, body=NewApiToken(name=token_name))
    assert created.token.startswith("uitp_") and created.name == token_name, created
    assert created.token.startswith(created.token_prefix), (created.token_prefix, created.token[:12])
    harness = AuthenticatedClient(base_url=BASE_URL, token=created.token, raise_on_unexpected_status=True)
    step(f"created API token {created.token_prefix}... and switched to it")

    me = call(get_me, 200, client=harness)
    assert me.user.email == SUPPLIER_EMAIL, me.user.email
    assert me.organisation.kind.value == "supplier" and me.role.value == "admin", (me.organisation.kind, me.role)
    org_id = me.organisation.id
    listed = [t for t in all_pages(list_api_tokens, client=harness) if t.id == created.id]
    assert len(listed) == 1 and listed[0].name == token_name, listed
    assert "token" not in listed[0].additional_properties, "a listed token must not carry its secret"
    step(f"the API token works: {me.user.email}, {me.role.value} of {me.organisation.name}")

    # 2. Find the open window.
    windows = all_pages(list_uit_windows, client=harness, status=WindowStatus.OPEN)
    window = next((w for w in windows if w.name == WINDOW_NAME), None)
    assert window is not None, f"{WINDOW_NAME} is not among the open windows: {[w.name for w in windows]}"
    assert window.status == WindowStatus.OPEN and len(window.scenarios) >= 4, window
    now = datetime.now(timezone.utc)
    assert window.opens_at <= now < window.closes_at, (window.opens_at, window.closes_at)
    scenarios = window.scenarios
    step(f"open window {window.name}: scenarios {', '.join(scenarios)}")

    # 3. Claim the two most prevalent device sets nobody has claimed yet.
    gaps = call(get_window_coverage, 200, id=window.id, client=harness, state=CoverageState.UNCLAIMED)
    assert len(gaps.items) >= 2, f"need two unclaimed device sets, found {len(gaps.items)}"
    assert all(i.state == CoverageState.UNCLAIMED for i in gaps.items)
    prevalences = [i.prevalence for i in gaps.items]
    assert prevalences == sorted(prevalences, reverse=True), "gaps come most prevalent first"
    first, second = gaps.items[0], gaps.items[1]
    for item in (first, second):
        claim = call(create_claim, 201, id=window.id, client=harness,
                     body=NewClaim(device_set_id=item.device_set_id, note="harness: we lead on this set"))
        assert claim.org_id == org_id and claim.device_set_id == item.device_set_id, claim
        assert claim.uit_window_id == window.id
    claims = all_pages(list_claims, id=window.id, client=harness)
    ours = {c.device_set_id for c in claims if c.org_id == org_id}
    assert {first.device_set_id, second.device_set_id} <= ours, ours
    step(f"claimed {first.name!r} (prevalence {first.prevalence}) and {second.name!r} ({second.prevalence})")

    # 4. Publish one result.
    single = call(create_result, 201, client=harness, body=ResultInput(
        uit_window_id=window.id, device_set_id=first.device_set_id, scenario=scenarios[0],
        outcome=Outcome.PASS, executed_at=now, visibility=Visibility.INDUSTRY, notes="first run",
        external_ref="HARNESS-1"))
    assert single.lead and single.revision == 1 and single.org_id == org_id, single
    assert single.outcome == Outcome.PASS and single.visibility == Visibility.INDUSTRY
    step(f"published {scenarios[0]} = pass on {first.name!r} (lead, revision 1)")

    # Publishing it again is a conflict naming the existing result.
    problem = call(create_result, 409, client=harness, body=ResultInput(
        uit_window_id=window.id, device_set_id=first.device_set_id, scenario=scenarios[0],
        outcome=Outcome.FAIL, executed_at=now))
    assert problem.code == "result_exists" and problem.context["existing_id"] == single.id, problem
    step("a second result for the same cell is 409 result_exists with the existing id")

    # 5. A batch: the other scenarios of the first set, and an amendment of the first result.
    items = [ResultInput(uit_window_id=window.id, device_set_id=first.device_set_id, scenario=s,
                         outcome=Outcome.PASS, executed_at=now, visibility=Visibility.PARTICIPANTS)
             for s in scenarios[1:]]
    items.append(ResultInput(uit_window_id=window.id, device_set_id=first.device_set_id, scenario=scenarios[0],
                             outcome=Outcome.PASS_WITH_OBSERVATIONS, executed_at=now,
                             visibility=Visibility.INDUSTRY, notes="rerun: display flickers"))
    key = f"harness-{uuid.uuid4()}"
    batch = call(create_result_batch, 200, client=harness, body=ResultBatch(items=items), idempotency_key=key)
    expected = len(scenarios) - 1
    assert (batch.created, batch.updated, batch.unchanged) == (expected, 1, 0), batch
    assert [i.index for i in batch.items] == list(range(len(items)))
    assert batch.items[-1].id == single.id and batch.items[-1].status == WriteOutcome.UPDATED, batch.items[-1]
    replay = call(create_result_batch, 200, client=harness, body=ResultBatch(items=items), idempotency_key=key)
    assert replay.to_dict() == batch.to_dict(), "a replay with the same Idempotency-Key returns the original answer"
    again = call(create_result_batch, 200, client=harness, body=ResultBatch(items=items))
    assert (again.created, again.updated, again.unchanged) == (0, 0, len(items)), again
    step(f"batch: {batch.created} created, {batch.updated} amended; replay identical; resubmission unchanged")

    amended = call(get_result, 200, id=single.id, client=harness)
    assert amended.revision == 2 and amended.outcome == Outcome.PASS_WITH_OBSERVATIONS, amended
    revisions = all_pages(list_result_revisions, id=single.id, client=harness)
    assert [r.revision for r in revisions] == [1] and revisions[0].result.outcome == Outcome.PASS, revisions
    step("the amended result is revision 2; revision 1 (pass) is kept")

    # 6. A JUnit report for the second set: pass, failure, skipped, pass.
    outcomes = [Outcome.PASS, Outcome.FAIL, Outcome.NOT_RUN, Outcome.PASS]
    bodies = ["", '<failure message="top-up not applied">credit stayed at 0.00</failure>', "<skipped/>", ""]
    cases = "\n".join(f'  <testcase classname="uit" name="{s}" time="1.5">{b}</testcase>'
                      for s, b in zip(scenarios, bodies))
    report = (f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="harness" tests="{len(scenarios)}">\n'
              f"{cases}\n</testsuite>\n").encode()
    # The report goes up as a multipart/form-data form (what `curl -F file=@report.xml` sends),
    # the generated client's typed way for a file (see .ci/client/README.md).
    form = JunitForm(file=File(payload=io.BytesIO(report), file_name="report.xml", mime_type="application/xml"))
    junit = call(upload_junit, 200, client=harness, uit_window_id=window.id, device_set_id=second.device_set_id,
                 visibility=Visibility.PARTICIPANTS, body=form)
    assert (junit.created, junit.updated, junit.unchanged) == (len(scenarios), 0, 0), junit
    published = all_pages(list_results, client=harness, uit_window_id=window.id,
                          device_set_id=second.device_set_id, org_id=org_id)
    got = {r.scenario: r.outcome for r in published}
    assert got == dict(zip(scenarios, outcomes)), got
    assert all(r.lead and r.visibility == Visibility.PARTICIPANTS for r in published)
    step(f"JUnit upload: {junit.created} results ({', '.join(o.value for o in outcomes)})")

    # 7. Read the matrix.
    matrix = call(get_window_matrix, 200, id=window.id, client=harness)
    assert matrix.uit_window_id == window.id and matrix.scenarios == scenarios, matrix.scenarios
    rows = {r.device_set_id: r for r in matrix.rows}
    want = {
        first.device_set_id: ["pass_with_observations"] + ["pass"] * (len(scenarios) - 1),
        second.device_set_id: [o.value for o in outcomes],
    }
    for set_id, worst in want.items():
        row = rows[set_id]
        assert row.lead_org_id == org_id, (row.device_set_name, row.lead_org_id)
        cells = [row.cells[s] for s in scenarios]
        assert [c.worst for c in cells] == worst, (row.device_set_name, [c.worst for c in cells])
        assert all(c.counts[w] >= 1 for c, w in zip(cells, worst)), [c.counts.to_dict() for c in cells]
    assert matrix.totals["fail"] >= 1, matrix.totals.to_dict()
    prevalences = [r.prevalence for r in matrix.rows]
    assert prevalences == sorted(prevalences, reverse=True), "matrix rows come most prevalent first"
    step(f"matrix: {len(matrix.rows)} device sets x {len(scenarios)} scenarios, our two rows as published")

    # 8. Clean up: revoke the API token; it stops working at once.
    call(revoke_api_token, 204, id=created.id, client=session)
    problem = call(get_me, 401, client=harness)
    assert problem.code == "invalid_token", problem
    step("revoked the API token: it is now 401 invalid_token")
    print("workflow: all steps passed")


if __name__ == "__main__":
    main()
