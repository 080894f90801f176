"""The ways benchmarks.edge predicts one ticket and a batch: (predict_one, predict_batch) pairs.

torch_predictors     a classifier directory in torch (the teacher, the student in fp32)
pipeline_predictors  transformers.pipeline("text-classification"), what a user would write
onnx_predictors      the bundle's model.onnx in a plain script: onnxruntime's defaults
agent_predictors     edge_agent.bundle.Model, as the agent runs it
"""

from pathlib import Path


def torch_predictors(model_dir: Path, max_length: int):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, local_files_only=True).eval()

    def batch(texts):
        with torch.inference_mode():
            enc = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
            return model(**enc).logits.argmax(-1).numpy()

    return (lambda text: batch([text])), batch


def pipeline_predictors(model_dir: Path, labels: list[str]):
    import numpy as np
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(model_dir), tokenizer=str(model_dir), device=-1)
    index = {label: i for i, label in enumerate(labels)}

    def batch(texts):
        return np.array([index[r["label"]] for r in classify(list(texts), batch_size=32, truncation=True)])

    return (lambda text: classify(text, truncation=True)), batch


def onnx_predictors(folder: Path, max_length: int):
    """The int8 student as a plain script would run it: onnxruntime's default session options."""
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(max_length)
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])

    def one(text):
        ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
        return session.run(["logits"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]

    def batch(texts):
        encodings = tokenizer.encode_batch(list(texts))
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
        return session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0].argmax(-1)

    return one, batch


def agent_predictors(model):
    """The int8 student as the edge agent runs it (edge_agent.bundle.Model)."""
    return model.predict_one, lambda texts: model.predict_proba(list(texts)).argmax(-1)
