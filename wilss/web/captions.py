"""`python -m wilss.web captions`: one caption per web image, written to `<out>/captions.tsv` with a manifest.

Images are the JPEG files of `<web root>/classes/*/` and `<web root>/replay/*/`, in sorted order. Two backends
implement the `Captioner` interface:
- `file` (default) reads the released caption files (reference §9.2 step 1): `captions/raw/<folder>.txt`
  ("<file name> <caption>"), or, when a folder has only the released noun file `captions/nouns/<folder>.txt`,
  its nouns as the caption text;
- `model` runs a local image-to-text model (a Hugging Face model directory, e.g. a vision-encoder-decoder or
  BLIP captioning checkpoint) on CPU or GPU, offline (`local_files_only`); needs the `[web-model]` extra.
The released captioner (OpenFlamingo-3B prompted with "<image>An image of", 3 beams, 40 new tokens) is not
bundled; `--num-beams 3 --max-new-tokens 40` reproduce its decoding settings with another model.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Protocol

from wilss.data.caption_files import read_captions, read_nouns, write_captions
from wilss.errors import WilssError, exit_on_user_error
from wilss.web.manifest import file_records, write_manifest

OUTPUT = "captions.tsv"
IMAGE_FOLDERS = ("classes", "replay")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class Captioner(Protocol):
    """Captions a batch of images; describes what it read for the manifest."""

    def caption(self, images: list[Path]) -> list[str]: ...

    def inputs(self) -> dict: ...


def web_images(web_root: Path) -> list[Path]:
    """Every image of the web root's class and replay folders, sorted."""
    web_root = Path(web_root)
    if not web_root.is_dir():
        raise WilssError(f"web root '{web_root}' does not exist (option --web-root). Point it at the web data "
                         "folder, or make synthetic web data with `python -m wilss.synthetic.web`.")
    images = sorted(path for kind in IMAGE_FOLDERS for path in (web_root / kind).glob("*/*")
                    if path.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise WilssError(f"web root '{web_root}' holds no images in classes/<class>/ or replay/<source id>/; "
                         "check --web-root.")
    return images


class FileCaptioner:
    """The released caption files of the web root: raw captions, else the nouns of the released noun files."""

    def __init__(self, web_root: Path):
        self.web_root = Path(web_root)
        self._folders: dict[str, tuple[Path, dict[str, str]]] = {}

    def _folder(self, folder: str) -> tuple[Path, dict[str, str]]:
        if folder not in self._folders:
            raw = self.web_root / "captions" / "raw" / f"{folder}.txt"
            nouns = self.web_root / "captions" / "nouns" / f"{folder}.txt"
            if raw.is_file() or not nouns.is_file():                  # a missing file is reported by its raw name
                self._folders[folder] = raw, read_captions(raw)
            else:
                self._folders[folder] = nouns, {name: " ".join(words) for name, words in read_nouns(nouns).items()}
        return self._folders[folder]

    def caption(self, images: list[Path]) -> list[str]:
        captions = []
        for image in images:
            source, folder = self._folder(image.parent.name)
            if image.name not in folder:
                raise WilssError(f"no caption for '{image}' in '{source}'; add a line '{image.name} <caption>' "
                                 "or remove the image.")
            captions.append(folder[image.name])
        return captions

    def inputs(self) -> dict:
        return {"caption_files": file_records([path for path, _ in self._folders.values()], self.web_root)}


class ModelCaptioner:
    """A local Hugging Face image-to-text model, loaded without network access."""

    def __init__(self, model_dir: Path, device: str, num_beams: int, max_new_tokens: int, batch_size: int):
        self.model_dir = Path(model_dir)
        if not (self.model_dir / "config.json").is_file():
            raise WilssError(f"caption model directory '{self.model_dir}' has no config.json (option --model); "
                             "point it at a saved Hugging Face image-to-text model (save_pretrained output).")
        try:
            import transformers
        except ImportError as error:
            raise WilssError("the model backend needs the transformers package: install the extra with "
                             "`pip install -e '.[web-model]'`, or use --backend file.") from error
        load = {"local_files_only": True}
        self.processor = transformers.AutoImageProcessor.from_pretrained(self.model_dir, **load)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.model_dir, **load)
        self.model = transformers.AutoModelForImageTextToText.from_pretrained(self.model_dir, **load).to(device)
        self.model.eval()
        self.device, self.num_beams, self.max_new_tokens, self.batch_size = device, num_beams, max_new_tokens, \
            batch_size

    def caption(self, images: list[Path]) -> list[str]:
        import torch
        from PIL import Image

        captions = []
        for start in range(0, len(images), self.batch_size):
            batch = [Image.open(path).convert("RGB") for path in images[start:start + self.batch_size]]
            pixels = self.processor(images=batch, return_tensors="pt")["pixel_values"].to(self.device)
            with torch.inference_mode():
                tokens = self.model.generate(pixel_values=pixels, num_beams=self.num_beams,
                                             max_new_tokens=self.max_new_tokens, do_sample=False)
            captions += [" ".join(text.split()) for text in self.tokenizer.batch_decode(tokens,
                                                                                         skip_special_tokens=True)]
        return captions

    def inputs(self) -> dict:
        weights = sorted(p for p in self.model_dir.rglob("*") if p.is_file())
        return {"model_files": file_records(weights, self.model_dir)}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m wilss.web captions",
                                     description="Caption every web image (classes/*/ and replay/*/) into "
                                                 "OUT/captions.tsv, with OUT/manifest.json.")
    parser.add_argument("--web-root", type=Path, required=True, metavar="R", help="web data folder")
    parser.add_argument("--out", type=Path, required=True, metavar="O", help="output folder")
    parser.add_argument("--backend", choices=("file", "model"), default="file",
                        help="file: released caption files of the web root (default); model: a local model")
    parser.add_argument("--model", type=Path, metavar="DIR", help="model backend: saved Hugging Face model folder")
    parser.add_argument("--device", default="cpu", help="model backend: torch device (default: cpu)")
    parser.add_argument("--num-beams", type=int, default=3, help="model backend: beam width (default: 3, released)")
    parser.add_argument("--max-new-tokens", type=int, default=40,
                        help="model backend: caption length limit (default: 40, released)")
    parser.add_argument("--batch-size", type=int, default=8, help="model backend: images per batch (default: 8)")
    return parser


def _captioner(args: argparse.Namespace) -> Captioner:
    if args.backend == "file":
        return FileCaptioner(args.web_root)
    if args.model is None:
        raise WilssError("--backend model needs --model DIR (a saved Hugging Face image-to-text model folder).")
    return ModelCaptioner(args.model, args.device, args.num_beams, args.max_new_tokens, args.batch_size)


@exit_on_user_error
def cli(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    images = web_images(args.web_root)
    captioner = _captioner(args)
    captions = captioner.caption(images)
    args.out.mkdir(parents=True, exist_ok=True)
    output = args.out / OUTPUT
    write_captions(output, args.web_root, images, captions)
    parameters = {"backend": args.backend}
    if args.backend == "model":
        parameters.update(num_beams=args.num_beams, max_new_tokens=args.max_new_tokens, device=args.device)
    write_manifest(args.out, "captions", parameters, {**captioner.inputs(), "images": len(images)},
                   {"captions": file_records([output], args.out)})
    print(f"captioned {len(images)} images ({args.backend} backend) -> {output}")
