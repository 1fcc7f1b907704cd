"""The run shipped with crackscope: a classifier and its self-trained pixel models, mapped with the
``selftrained`` preset. ``crackscope map builtin PHOTOS --out DIR`` uses it; ``docs/MODEL_CARD.md`` says what
it was trained on, under which terms, with which command, and how well it maps."""
