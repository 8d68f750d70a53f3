"""Follow-up rewriting without an LLM, and the condense step with one (a scripted chat here; the real
SmolLM2 condense runs in test_llm.py)."""
import pytest

from qa.followup import condense, needs_context, rewrite

pytestmark = pytest.mark.unit

HISTORY = [
    {"role": "user", "content": "Which court ruled that firms can't lay off staff because AI is cheaper?"},
    {"role": "assistant", "content": "A landmark ruling by the Hangzhou Intermediate People’s Court [1]"},
]


def test_standalone_question_is_unchanged():
    q = "How many university graduates entered the job market in 2026?"
    assert not needs_context(q)
    assert rewrite(q, HISTORY) == q


def test_pronoun_question_carries_entities_of_earlier_turns():
    q = "What does that ruling require companies to prioritize instead?"
    assert needs_context(q)
    out = rewrite(q, HISTORY)
    assert out.startswith(q)
    assert "Hangzhou" in out and "court" in out.lower()


def test_short_question_leans_on_history():
    out = rewrite("And why?", HISTORY)
    assert "Hangzhou" in out


def test_no_history_or_malformed_history_is_harmless():
    q = "What is that?"
    assert rewrite(q, None) == q
    assert rewrite(q, [{"role": "user"}, "junk", {"content": 5}]) == q


def test_condense_uses_the_llm_reply_when_it_keeps_the_question():
    seen = []

    def chat(messages):
        seen.append(messages)
        return "What does the Hangzhou court ruling require companies to prioritize instead?"

    out = condense("What does that ruling require companies to prioritize instead?", HISTORY, chat)
    assert out == "What does the Hangzhou court ruling require companies to prioritize instead?"
    assert "Hangzhou" in seen[0][1]["content"]


@pytest.mark.parametrize("reply", ["", "Retraining.", "x" * 500, RuntimeError("server down")])
def test_condense_falls_back_to_rewrite_on_unusable_replies(reply):
    def chat(messages):
        if isinstance(reply, Exception):
            raise reply
        return reply

    q = "What does that ruling require companies to prioritize instead?"
    assert condense(q, HISTORY, chat) == rewrite(q, HISTORY)
