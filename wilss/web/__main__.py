"""`python -m wilss.web COMMAND [options]`: the Web-WILSS data-preparation commands, one module each."""

from __future__ import annotations

import importlib
import sys

from wilss.cli import as_invoked

# command -> module with a `cli(argv)` entry point
COMMANDS = {
    "captions": "wilss.web.captions",
    "select-replay": "wilss.web.select_replay",
    "discriminator": "wilss.web.discriminator",
    "pseudo-label": "wilss.web.pseudo_label",
}

USAGE = """usage: python -m wilss.web COMMAND [options]   (python -m wilss.web COMMAND --help for its options)

  captions        caption images (from released caption files, or a local image-to-text model)
  select-replay   keep the web images whose captions match their source image (parity | semantic)
  discriminator   train the Fourier-amplitude domain discriminator; keep new-class web images near the dataset
  pseudo-label    label selected replay images with the step-0 model; write the replay list
"""


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help"):
        print(as_invoked(USAGE))
        return
    if args[0] not in COMMANDS:
        print(f"wilss.web: unknown command '{args[0]}'\n\n{USAGE}", file=sys.stderr)
        sys.exit(2)
    importlib.import_module(COMMANDS[args[0]]).cli(args[1:])


if __name__ == "__main__":
    main()
