"""llama.cpp runtime: model loading, prompts, healing, decoding, rollouts and scanning.

Import what you need from its modules (`caveat.engine.engine`, `caveat.engine.loader`, ...):
this package imports nothing itself, so the plain value types load without llama_cpp.
"""
