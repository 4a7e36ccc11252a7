"""The methods floor: what each adaptation method *is*, one module per method, behind one registry
(``registry``) that builds any of them on a model, as PEFT's tuners do. ``submodules``,
``freezing``, ``parameter_counts``, ``probing``, ``adapters`` and ``lora`` are mechanism modules:
they import only torch, transformers, safetensors, the standard library and each other, so that
opening ``lora.py`` shows LoRA and nothing else. ``lora_io`` reads and writes PEFT's format. The
floor imports only itself, ``tap.models``, ``tap.data`` and ``tap.core``.
"""
