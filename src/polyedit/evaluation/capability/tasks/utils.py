"""Per-sentence scores of the world fluency task (loaded by lm-eval from the task YAML, beside it)."""


def process_results(doc, results):
    """lm-eval's rolling-perplexity scores plus the log-likelihood per character of each sentence: a mean over
    sentences (so a paired bootstrap over them is the statistic reported) that is comparable across scripts."""
    (loglikelihood,) = results
    text = doc["text"]
    n_bytes = len(text.encode("utf-8"))
    return {"logprob_per_char": loglikelihood / len(text), "bits_per_byte": (loglikelihood, n_bytes),
            "byte_perplexity": (loglikelihood, n_bytes)}
