"""How a backup's or restore's progress is shown from the engine's counts (warehouse/backups.py)."""

from __future__ import annotations

from warehouse.backups import shown


def test_progress_never_goes_back_nor_past_its_total() -> None:
    # The engine's bytes done were seen to fall between two reads (1,702 then 1,134): the bar stays where it was.
    assert shown(1_702, 12_550_626, 0, finished=False) == (1_702, 12_550_626)
    assert shown(1_134, 12_550_626, 1_702, finished=False) == (1_702, 12_550_626)
    assert shown(20_000, 12_550, 1_702, finished=False) == (12_550, 12_550)  # the backup's files outweigh a little
    assert shown(900, 1_000, 1_200, finished=False) == (1_200, 1_200)  # a total that fell below what was shown


def test_a_finished_operation_shows_all_of_it() -> None:
    assert shown(12_600_000, 12_550_626, 9_000_000, finished=True) == (12_600_000, 12_600_000)
    assert shown(1_134, 12_550_626, 1_702, finished=True) == (12_550_626, 12_550_626)
