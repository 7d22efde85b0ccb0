"""The applications of the transformer adapter: ``sharpen bon`` and ``sharpen sft``.

* :mod:`.bon`: the paper's inference-time best-of-N protocol on a real model (App. A.1);
* :mod:`.sft`: SFT-Sharpening, the squared-loss RLHF-Sharpening of Eq. 8 and XPO (Algorithm 1)
  of a real model with LoRA, evaluated as in Section 5.3;
* :mod:`.plots`: their figures (the paper's Figs. 1b, 3, 4 and 6) from the tidy tables.

Each command module has ``add_arguments(parser)`` and ``main(args) -> int`` for
:mod:`paper_figs.cli`; argument parsing, result folders and figures live here, while the policies,
scoring, learners and tasks they call are the library's (:mod:`simulators.hf`, the ``hf`` extra).
Nothing here imports torch until a command runs.
"""
