"""The ablation study: train the full model and one variant per removed component over seeds, decode test once per
run, and compare each variant with the full model by a paired bootstrap over test examples.

runner (`tranx ablate`: the component table, run folders, training and decoding as subprocesses, resumable),
bootstrap (paired bootstrap of exact match and corpus BLEU, over one seed or pooled over seed pairs), report
(ablation.json with provenance, ablation.md, ablation.png, the paper's deltas).
"""
