"""``rcbot serve`` readies its interpreter once it serves: the start-up heap frozen out of
garbage collection (checked in a process of its own, as it changes the whole process)."""

import subprocess
import sys


def test_settling_freezes_the_heap() -> None:
    code = (
        "import gc\n"
        "from bot.web.server import settle_heap\n"
        "before = gc.get_freeze_count()\n"
        "settle_heap()\n"
        "print(gc.get_freeze_count() > before + 1000)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["True"]
