"""Web-WILSS data preparation: captions, caption-driven replay selection, the Fourier domain discriminator and
the pseudo-labels of replay images. Each command writes a manifest (`wilss.web.manifest`) next to its output."""
