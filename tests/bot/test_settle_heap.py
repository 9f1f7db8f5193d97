"""``rcbot serve`` readies its interpreter once it serves: the start-up heap frozen out of
garbage collection, a short interpreter-lock switch interval (checked in a process of its
own, as both change the whole process)."""

import subprocess
import sys

from bot.web.server import SWITCH_INTERVAL


def test_settling_freezes_the_heap_and_shortens_the_switch_interval() -> None:
    code = (
        "import gc, sys\n"
        "from bot.web.server import settle_heap\n"
        "before = gc.get_freeze_count()\n"
        "settle_heap()\n"
        "print(gc.get_freeze_count() > before + 1000, sys.getswitchinterval())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    frozen, interval = done.stdout.split()
    assert frozen == "True"
    assert float(interval) == SWITCH_INTERVAL
