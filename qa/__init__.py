"""docqa question answering: question in, cited ``Answer`` out (retrieval, extractive answers,
answerability, follow-ups, llm mode with its support check)."""


def answer(question, history=None, settings=None, **kwargs):
    """Answer ``question`` from the index; see ``qa.answer.answer``."""
    from .answer import answer as _answer

    return _answer(question, history=history, settings=settings, **kwargs)
