"""Split a folder of photo pairs (source/ and target/ with matching names) into study photos and held-out pairs.

    python -m vae_tune.data.pairs ../shared/data/fashion-pairs ~/photos --hold-out 16

makes ~/photos/study/{source,target}/ (for `vae-tune run photos --data ~/photos/study`)
and ~/photos/held_out/{source,target}/ (for `vae-tune score ... --pairs ~/photos/held_out`),
as symbolic links to the originals. A pair is held out when the hash of its name is low,
so the split is the same on every machine and does not move when pairs are added.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from vae_tune.data.dataset import identity_hashes

SIDES = ("source", "target")


def matched_names(folder: Path) -> list[str]:
    """File names present in both source/ and target/ of `folder`, sorted."""
    missing = [side for side in SIDES if not (folder / side).is_dir()]
    if missing:
        raise FileNotFoundError(f"{folder}: no {' or '.join(f'{side}/' for side in missing)} folder")
    names = [{path.name for path in (folder / side).iterdir() if not path.name.startswith(".")} for side in SIDES]
    return sorted(names[0] & names[1])


def split_pairs(folder: Path, out: Path, hold_out: int, salt: str = "held-out") -> tuple[list[str], list[str]]:
    """Link `hold_out` pairs into out/held_out and the rest into out/study; returns (study, held-out) names."""
    folder, out = folder.expanduser().resolve(), out.expanduser()
    names = matched_names(folder)
    if not 0 < hold_out < len(names):
        raise ValueError(f"--hold-out: must be between 1 and {len(names) - 1} for {len(names)} pairs, got {hold_out}")
    order = np.argsort(identity_hashes(names, salt), kind="stable")
    held_out = sorted(names[i] for i in order[:hold_out])
    study = sorted(set(names) - set(held_out))
    for part, members in (("study", study), ("held_out", held_out)):
        for side in SIDES:
            target_dir = out / part / side
            target_dir.mkdir(parents=True, exist_ok=True)
            for name in members:
                link = target_dir / name
                if not link.exists():
                    link.symlink_to(folder / side / name)
    return study, held_out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vae_tune.data.pairs", description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a folder with source/ and target/")
    parser.add_argument("out", type=Path, help="where study/ and held_out/ go")
    parser.add_argument("--hold-out", type=int, default=16, metavar="N", help="pairs to hold out; default 16")
    args = parser.parse_args(argv)
    try:
        study, held_out = split_pairs(args.folder, args.out, args.hold_out)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{len(study)} pairs ({2 * len(study)} photos) in {args.out / 'study'}; "
          f"{len(held_out)} pairs held out in {args.out / 'held_out'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
