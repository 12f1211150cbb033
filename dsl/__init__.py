"""pywgsl's DSL: type-annotated Python functions compiled to WGSL.

    from dsl import kernel, func, struct, gpu, f32, u32, Array, RW
"""
from .builtins import BUILTINS, OPERATORS
from .decorators import Func, func, struct
from .errors import CompileError
from .gpu import gpu
from .kernel import Binding, Kernel, Param, kernel
from .types import Array, Const, RW, bool_, f16, f32, i32, u32, vec2, vec3, vec4
from .types import AtomicOf as Atomic

vec2f, vec3f, vec4f = vec2[f32], vec3[f32], vec4[f32]
vec2h, vec3h, vec4h = vec2[f16], vec3[f16], vec4[f16]
vec2i, vec3i, vec4i = vec2[i32], vec3[i32], vec4[i32]
vec2u, vec3u, vec4u = vec2[u32], vec3[u32], vec4[u32]

__all__ = ["Array", "Atomic", "BUILTINS", "Binding", "CompileError", "Const", "Func", "Kernel", "OPERATORS", "Param",
           "RW", "bool_", "f16", "f32", "func", "gpu", "i32", "kernel", "struct", "u32", "vec2", "vec2f", "vec2h",
           "vec2i", "vec2u", "vec3", "vec3f", "vec3h", "vec3i", "vec3u", "vec4", "vec4f", "vec4h", "vec4i", "vec4u"]
