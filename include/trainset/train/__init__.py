"""train-handoff (학습): split, export, balance, data card and release of the inspected items.

Modules: ``items`` (what passed inspection, from the records DB), ``split`` (grouped, stratified, seeded),
``exports`` (COCO / YOLO / AI Hub and strict readers), ``balance``, ``datacard``, ``release`` (plan, publish,
verify).
"""
