"""docqa ingestion: load, clean, chunk and embed documents into Chroma."""
