"""Experiments: sweep definitions and point functions built on the library.

Each module defines the point function(s) of one experiment, a ``check`` for its
points, a ``summary`` of its rows and a ``make_sweep(...)`` that returns a
:class:`promptlimits.sweep.SweepDef`. The library (``promptlimits`` outside
``experiments`` and ``commands``) never imports from here.

- :mod:`.phase` -- the efficiency phase transition (DESIGN section 4).
- :mod:`.hardness` -- planted Hamming instances decided by attention (section 5).
- :mod:`.prompt_norm` -- prompt-induced norm against the frontier (sections 2, 4).
- :mod:`.approx_error` -- certified and measured error against degree (section 3).
- :mod:`.tuning_curves` -- loss and induced norm along tuning (sections 2, 4).
- :mod:`.memorization` -- least memorizing prompt length against the bound (section 6).
- :mod:`.universality` -- held-out error of tuned prompts (sections 6, 8).
"""
