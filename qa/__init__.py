"""docqa question answering: retrieval, cited answers, refusal, evaluation and the CLI."""


def answer(question, history=None, settings=None, **kwargs):
    """Answer ``question`` from the index; see ``qa.answer.answer``."""
    from .answer import answer as _answer

    return _answer(question, history=history, settings=settings, **kwargs)
