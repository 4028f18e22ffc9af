"""A real headless Chromium (Debian's `chromium` and `chromium-driver`) against the example
server, run in a thread of the test process on a free 127.0.0.1 port.

Without chromium the browser tests skip, saying why; with LIAPTUI_REQUIRE_BROWSER=1 (set by
.ci/run) they fail instead. Selenium is pointed at /usr/bin/chromedriver, so Selenium Manager
never downloads a driver. On failure each test leaves a screenshot and the page's HTML in a
temporary folder and prints its path.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from msgspec.structs import replace

from actors.config import EngineConfig
from actors.facade import Engine
from engine.settings import RoomSettings
from examples.server import serving

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
T = TypeVar("T")


class ServerThread:
    """The example server (fast engine, quick bots) on its own event loop in a thread."""

    def __init__(self, db: Path) -> None:
        # A shorter match than the default (target 50, cap 20 rounds) keeps the test quick.
        rules = replace(RoomSettings.fast(), target_score=30, round_cap=8)
        self.config = EngineConfig.fast(
            str(db), bot_delay=0.01, archive_after=None, room_settings=rules
        )
        self.port = 0
        self.engine: Engine | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Future[None] | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="example-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(30) or self._failure is not None:
            raise RuntimeError(f"the example server did not start: {self._failure}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(30)

    def call(self, coroutine_function: Callable[..., Coroutine[Any, Any, T]], *args: object) -> T:
        """Run `await coroutine_function(engine, *args)` on the server's loop; its result."""
        assert self.loop is not None and self.engine is not None
        work = coroutine_function(self.engine, *args)
        future = asyncio.run_coroutine_threadsafe(work, self.loop)
        return future.result(30)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by __enter__
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = self.loop.create_future()
        async with (
            Engine.open(self.config.path, self.config) as engine,
            serving(engine, "127.0.0.1", 0) as server,
        ):
            self.engine = engine
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop


def _browser_missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.exists(path) or shutil.which(Path(path).name)):
            return f"{path} not installed (apt-get install -y chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with ServerThread(tmp_path_factory.mktemp("web") / "games.db") as running:
        yield running


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[object]:
    missing = _browser_missing()
    if missing is not None:
        if os.environ.get("LIAPTUI_REQUIRE_BROWSER") == "1":
            pytest.fail(f"LIAPTUI_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(flag)
    service = Service(executable_path=shutil.which("chromedriver") or CHROMEDRIVER)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            folder = Path(tempfile.mkdtemp(prefix="liaptui-browser-"))
            driver.save_screenshot(str(folder / "failure.png"))
            (folder / "page.html").write_text(driver.page_source, encoding="utf-8")
            print(f"\nbrowser screenshot and page of {request.node.name}: {folder}", flush=True)
        driver.quit()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)
