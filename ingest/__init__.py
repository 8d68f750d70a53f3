"""docqa ingestion: load, clean, chunk and embed documents into Chroma + BM25, and the document
library behind the UI (library.py, uploads.py)."""
