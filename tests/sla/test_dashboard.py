"""The dashboard in headless Chromium: a late obligation shows up without reloading the page."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from gateway.participants import Participant
from tests.fixtures.gateway import RunningGateway
from tests.sla.conftest import example

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
HAVE_CHROMIUM = Path(CHROMIUM).exists()
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"

PROVIDER = Participant.parse("aanbieder-42420001")
DIEMEN = Participant.parse("gemeente-0384")


async def test_dashboard_shows_a_late_obligation_live(
    simulated_gateway: RunningGateway, reference: Path, tmp_path: Path
) -> None:
    """Open page, push a 315, move the clock: a late row appears by polling; screenshot it."""
    if not HAVE_CHROMIUM:
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (scripts/test does)")
    running = simulated_gateway
    provider = await running.client(PROVIDER)
    municipality = await running.client(DIEMEN)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            await page.goto(f"{running.ops_url}/dashboard")
            await page.wait_for_selector("#obligations tbody td.muted")  # "none" yet
            await page.evaluate("window.notReloaded = true")

            for name, sender, recipient in (
                ("WMO315", provider, DIEMEN),
                ("WMO316", municipality, PROVIDER),
                ("WMO301", municipality, PROVIDER),
            ):
                response = await sender.push(example(reference, name), name, recipient=recipient)
                assert response.status == 204, await response.text()
            moved = await provider.session.post(
                f"{running.ops_url}/admin/clock/advance", json={"working_days": 4}
            )
            assert moved.status == 200

            # The same page, not reloaded: the next poll draws the late rows.
            late = page.locator("#obligations tbody tr.late")
            await late.first.wait_for(timeout=10_000)
            texts = await late.all_inner_texts()
            assert any("WMO302" in t and "overdue" in t for t in texts), texts
            assert await page.locator("#count-late").inner_text() != "0"
            await page.locator(".chain .msg", has_text="WMO316").first.wait_for()
            assert await page.evaluate("window.notReloaded") is True
            # Open ones say how long is left; the 305 of the 301 is due Monday 21 August.
            rows = await page.locator("#obligations tbody tr").all_inner_texts()
            assert any("WMO305" in r and "left" in r for r in rows), rows
            # Lateness per participant: the provider owes the late 302.
            [provider_row] = await page.locator(
                "#participants tbody tr", has_text="aanbieder-42420001"
            ).all()
            assert await provider_row.get_attribute("class") == "late"
            cells = await provider_row.locator("td").all_inner_texts()
            assert cells[5] == "1", cells  # the "late" column
            # The VSP status of each message: the answered 315 was delivered.
            first = page.locator(".chain .msg", has_text="WMO315").first
            assert await first.locator(".status").inner_text() == "Bezorgd"

            shot = tmp_path / "dashboard.png"
            await page.screenshot(path=str(shot), full_page=True)
        finally:
            await browser.close()
    assert shot.stat().st_size > 10_000
    if os.environ.get("UPDATE_DOCS_SCREENSHOT"):
        # Refreshing the committed picture is a deliberate act, not a side effect of a test run.
        shutil.copyfile(shot, DOCS_SCREENSHOT)
