"""Render a contact sheet of the embedded synthetic catalogue (the picture in docs/studies.md).

    python analysis/catalogue_sheet.py --out docs/images/catalogue.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vae_tune.data.synthetic import contact_sheet, generate_catalogue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images/catalogue.png"))
    parser.add_argument("--count", type=int, default=32, help="number of images on the sheet")
    parser.add_argument("--image-size", type=int, default=128, help="pixels per side; a multiple of 16")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--columns", type=int, default=8)
    args = parser.parse_args()

    images, labels = generate_catalogue(args.count, args.image_size, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(images, labels, columns=args.columns).save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.count} images, {args.image_size}px, seed {args.seed})")


if __name__ == "__main__":
    main()
