#!/usr/bin/env python3
"""The same GGUF, system prompt and tasks as `proximity-local-bench`, run by llama.cpp
through the PyPI package `llama-cpp-python` (which builds llama.cpp from source).

The user turn is padded with the same context paragraph (~200 prompt tokens). Greedy, up
to 48 generated tokens, one thread (as Proximity's default on 2 cores), the
same number of rounds. Prompt tok/s = prompt tokens / time to first token; generation
tok/s = (generated - 1) / (total - time to first token). Prints one JSON line.

    python3 bench/llama_cpp_bench.py MODEL.gguf [ROUNDS]
"""
import json
import os
import sys
import time

from llama_cpp import Llama

SYSTEM = 'You are a careful assistant for a logistics company. Answer briefly and precisely, using only the facts given. If the facts do not answer the question, say so.'

TASKS = ['Summarise the delivery note: 14 pallets of ceramic tiles left the Rotterdam depot on Monday at 06:40, two pallets were damaged during loading and returned, the remaining twelve reached the Antwerp site on Tuesday afternoon after a four-hour delay at the border.', 'Which city is the capital of France, and roughly how many people live there? Give the answer in one sentence and mention the river that runs through the city.', 'A customer writes: my parcel with tracking number ZX-4471 was marked delivered yesterday but nothing arrived, the neighbours have not seen it either. Draft a polite two-sentence reply promising an investigation within two working days.', 'List three risks of storing lithium batteries in a warehouse that also holds paper goods and suggest one mitigation for each risk. Keep every item under fifteen words.', 'Convert this instruction into a JSON object with keys action, item and quantity: please reorder forty boxes of A4 printer paper for the Leeds office before Friday.', 'The truck leaves at 09:15 and the drive takes 3 hours and 50 minutes with one 25 minute break. At what time does it arrive? Show the calculation in one short line.', 'Classify the sentiment of this review as positive, negative or mixed and explain why in one sentence: the driver was friendly but the box was crushed and two glasses were broken.', 'Translate into plain English for a new employee: POD required, COD not applicable, ETA subject to customs clearance, consignee to be notified 24h prior via EDI.']


def main():
    path = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    threads = int(os.environ.get("PROXIMITY_LOCAL_THREADS", "1"))
    t0 = time.perf_counter()
    llm = Llama(model_path=path, n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)
    load = time.perf_counter() - t0
    context = ("Context: the company runs six depots, ships about nine hundred parcels a "
               "day, and uses the same carrier for all international routes. ")

    def msgs(task):
        return [{"role": "system", "content": SYSTEM},
                {"role": "user", "content": context * 3 + task}]

    llm.create_chat_completion(messages=msgs(TASKS[0]), max_tokens=4, temperature=0.0)  # warm-up
    prompt_tokens = prompt_time = generated = gen_time = 0.0
    latencies = []
    for rnd in range(rounds):
        for i, base in enumerate(TASKS):
            # Varied per round, as proximity-local-bench does, so no whole prompt is reused.
            task = f"{base} (request {rnd}-{i})"
            start = time.perf_counter()
            first = None
            n = 0
            for chunk in llm.create_chat_completion(messages=msgs(task), max_tokens=48, temperature=0.0, stream=True):
                if chunk["choices"][0]["delta"].get("content"):
                    n += 1
                    if first is None:
                        first = time.perf_counter()
            end = time.perf_counter()
            # Prompt tokens without the chat template's few marker tokens (an estimate).
            ptoks = len(llm.tokenize((SYSTEM + context * 3 + task).encode(), add_bos=False))
            first = first or end
            prompt_tokens += ptoks
            prompt_time += first - start
            generated += max(n - 1, 0)
            gen_time += end - first
            latencies.append(end - start)
    print(json.dumps({
        "engine": "llama-cpp-python",
        "threads": threads,
        "load_s": round(load, 3),
        "prompt_tok_s": round(prompt_tokens / prompt_time, 1) if prompt_time else None,
        "generation_tok_s": round(generated / gen_time, 1) if gen_time else None,
        "mean_latency_ms": round(1000 * sum(latencies) / len(latencies), 1),
        "requests": len(latencies),
    }))


if __name__ == "__main__":
    main()
