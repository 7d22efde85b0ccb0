"""The vLLM engine process behind :class:`simulators.hf.VLLMPolicy` (run as a script, not imported).

``simulators.hf._vllm`` starts this file with the Python of an environment that has vLLM
(``.venv-vllm`` by default: vLLM pins its own torch and transformers) and talks to it over its
standard input and output: length-prefixed pickles, one request and one reply at a time. The file
imports nothing of the toolkit, only the standard library and vLLM, so the toolkit's own
environment never needs vLLM's pins. Everything the engine prints goes to standard error (the
caller keeps it in a log file), since standard output carries the replies.

Messages (dicts):

* first, the engine settings: ``{"engine": {...LLM keyword arguments...}}``; reply
  ``{"ready": True, "vllm": version}`` or ``{"error": traceback text}``;
* ``{"op": "generate", "prompts": [[ids]], "params": [{...SamplingParams keywords...}]}``: reply
  ``{"outputs": [...]}``, one entry per request: ``{"completions": [(token_ids,
  token_logprobs or None, finish_reason, stop_reason)], "prompt_logprobs": [log-probability of
  each prompt token after the first] or None}``; the log-probabilities are those of the tokens
  themselves (``logprobs=0`` / ``prompt_logprobs=0``);
* ``{"op": "close"}``, or the end of standard input: the engine shuts down.

``LLM(...)`` is created under this script's ``__main__`` guard, as vLLM's engine processes need.
"""

import os
import pickle
import struct
import sys
import traceback


def _read(stream):
    head = stream.read(8)
    if len(head) < 8:
        return None
    (size,) = struct.unpack("<Q", head)
    return pickle.loads(stream.read(size))


def _write(stream, message) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _token_logprobs(token_ids, logprobs):
    """The log-probability of each token from vLLM's per-position ``{token_id: Logprob}``."""
    if logprobs is None:
        return None
    return [
        float(position[token].logprob) for token, position in zip(token_ids, logprobs, strict=True)
    ]


def _generate(llm, SamplingParams, TokensPrompt, message):
    prompts = [TokensPrompt(prompt_token_ids=list(ids)) for ids in message["prompts"]]
    params = [SamplingParams(**kwargs) for kwargs in message["params"]]
    outputs = []
    for ids, out in zip(
        message["prompts"], llm.generate(prompts, params, use_tqdm=False), strict=True
    ):
        completions = [
            (
                list(c.token_ids),
                _token_logprobs(c.token_ids, c.logprobs),
                c.finish_reason,
                c.stop_reason,
            )
            for c in out.outputs
        ]
        prompt_logprobs = None
        if out.prompt_logprobs is not None:
            # Position 0 has no log-probability (nothing precedes it).
            prompt_logprobs = [
                float(position[token].logprob)
                for token, position in zip(ids[1:], out.prompt_logprobs[1:], strict=True)
            ]
        outputs.append({"completions": completions, "prompt_logprobs": prompt_logprobs})
    return {"outputs": outputs}


def main() -> int:
    # Replies travel on the original standard output; anything else printed goes to stderr.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    requests = sys.stdin.buffer
    settings = _read(requests)
    if settings is None:
        return 0
    try:
        import vllm
        from vllm import LLM, SamplingParams
        from vllm.inputs import TokensPrompt

        llm = LLM(**settings["engine"])
    except BaseException:  # noqa: BLE001 - reported to the caller, which raises it
        _write(replies, {"error": traceback.format_exc()})
        return 1
    _write(replies, {"ready": True, "vllm": vllm.__version__})
    while True:
        message = _read(requests)
        if message is None or message.get("op") == "close":
            return 0
        try:
            reply = _generate(llm, SamplingParams, TokensPrompt, message)
        except Exception:  # noqa: BLE001 - one bad request does not end the engine
            reply = {"error": traceback.format_exc()}
        _write(replies, reply)


if __name__ == "__main__":
    sys.exit(main())
