"""Taking a model out of qbench: a run's model as files that other libraries load.

``qbench export-model RUN_ID DIR`` rebuilds a finished run's model (:mod:`.run_model`: the
base, the prepared model from the cache, the fine-tuned adapters saved with the run) and writes
it (:mod:`.writer`): peft adapters on a base stored in a format another library reads
(:mod:`.formats`: bitsandbytes NF4, the GPTQ layout, or dequantized), or one merged checkpoint.
:mod:`.reader` reads such a folder back into a qbench model. Nothing here is imported by
``qbench --help``; the modules import torch.

    qbench export-model 3f2a...c9 exported/qlora-4bit                 # peft + bitsandbytes NF4
    qbench export-model 3f2a...c9 exported/merged --format merged     # one bf16 checkpoint
    qbench export-model 3f2a...c9 exported/init --stage init          # before fine-tuning
"""
