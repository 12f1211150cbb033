"""Training the demo model: a tiny gpt-oss on Shakespeare (corpus.py), its byte-level BPE
(bpe.py), the model in torch (model.py), the training loop (train.py) and the export to a GGUF of
gpt-oss's own types (export.py). torch is needed only here: `pip install -e '.[train]'`."""
