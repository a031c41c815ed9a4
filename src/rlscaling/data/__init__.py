"""Stage `data`: problems in verl's RL schema, in curriculum order, with a held-out split.

Modules (imports are light: pandas / numpy; `datasets` only when an hf source is read):
  schema      the row schema: reading and validating rows, the prompt template, question normalisation
  curriculum  pure seeded functions: curriculum order, stratified held-out split, data reuse, dedup
  benchmarks  the benchmark registry (gsm8k, math500, aime2024, amc2023 -> file, data_source, scorer)
  sources     reading parquet files and Hugging Face datasets
  prepare     prepare(params, out_dir) -> report: the whole stage
  cli         `rlscaling data --params-json JSON --out-dir DIR`
  synthetic   the seeded synthetic generator (source `synthetic`)
"""
