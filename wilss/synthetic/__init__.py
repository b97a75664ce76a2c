"""Procedurally drawn stand-ins for the real data, for the demo, the tests and the benchmark (no download, CPU):
`voc` draws a dataset in the VOC layout, `web` draws Web-WILSS web images for it with their caption files."""
