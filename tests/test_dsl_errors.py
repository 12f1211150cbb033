"""Unsupported Python and type errors raise dsl.CompileError when the decorator runs, naming the
file, line and column, with the source line and a caret. Each case marks its offending line with
a comment `# E:<case>`; the test finds that line and checks the error points at it."""
import pytest

from dsl import (Array, Atomic, CompileError, Const, RW, f16, f32, func, gpu, i32, kernel, struct, u32, vec2f, vec2h,
                 vec2u, vec4f)

HERE = __file__


def plain_python_helper(x):
    return x + 1


@func
def takes_f32(x: f32) -> f32:
    return x * 2.0


def expect(case: str, *fragments: str, col: int | None = None):
    """Context manager: the block must raise CompileError at the line marked `# E:<case>`."""
    from helpers import marked_line

    class Check:
        def __enter__(self):
            self.raises = pytest.raises(CompileError)
            self.info = self.raises.__enter__()
            return self

        def __exit__(self, *exc):
            handled = self.raises.__exit__(*exc)
            err = self.info.value
            assert err.filename == HERE
            assert err.lineno == marked_line(HERE, f"# E:{case}"), str(err)
            for fragment in fragments:
                assert fragment in err.message, err.message
            if col is not None:
                assert err.col == col, str(err)
            text = str(err)
            assert text.startswith(f"{HERE}:{err.lineno}:{err.col}: ")
            lines = text.splitlines()
            assert "^" in lines[-1] and lines[-1].strip(" ^") == ""  # the caret line
            assert lines[-1].index("^") == err.col - 1 + 4  # under the column, after the 4-space indent
            return handled

    return Check()


def test_class_definition():
    with expect("class", "a class definition"):
        @kernel
        def k(out: RW[Array[f32]]):
            class Inner:  # E:class
                pass


def test_lambda():
    with expect("lambda", "a lambda"):
        @kernel
        def k(out: RW[Array[f32]]):
            f = lambda v: v  # E:lambda  # noqa: E731


def test_try():
    with expect("try", "a try statement"):
        @kernel
        def k(out: RW[Array[f32]]):
            try:  # E:try
                out[0] = 1.0
            except Exception:
                pass


def test_with():
    with expect("with", "a with statement"):
        @kernel
        def k(out: RW[Array[f32]]):
            with open("x"):  # E:with
                pass


def test_comprehension():
    with expect("comp", "a list comprehension"):
        @kernel
        def k(out: RW[Array[f32]]):
            xs = [i for i in range(4)]  # E:comp


def test_fstring():
    with expect("fstring", "an f-string"):
        @kernel
        def k(out: RW[Array[f32]]):
            s = f"{out}"  # E:fstring


def test_unknown_name():
    with expect("unknown", "unknown name 'missing_thing'", col=22):
        @kernel
        def k(out: RW[Array[f32]]):
            out[0] = missing_thing  # E:unknown


def test_f32_plus_u32_without_cast():
    with expect("mixed", "operator +", "cannot combine f32 and u32", "f32(...)", col=22):
        @kernel
        def k(x: Array[f32], out: RW[Array[f32]]):
            i = gpu.global_id().x
            out[i] = x[i] + i  # E:mixed


def test_write_to_read_only_array():
    with expect("readonly", "cannot write to read-only Array parameter 'x'", "RW[Array[f32]]"):
        @kernel
        def k(x: Array[f32]):
            x[0] = 1.0  # E:readonly


def test_index_with_f32():
    with expect("findex", "an index must be i32 or u32, got f32"):
        @kernel
        def k(x: Array[f32], out: RW[Array[f32]]):
            out[0] = x[x[0]]  # E:findex


def test_call_plain_python_function():
    with expect("plain", "'plain_python_helper' is a plain Python function", "@func"):
        @kernel
        def k(out: RW[Array[f32]]):
            out[0] = plain_python_helper(1.0)  # E:plain


def test_recursion():
    with expect("recursion", "recursion is not supported"):
        @func
        def fact(n: u32) -> u32:
            if n <= 1:
                return 1
            return n * fact(n - 1)  # E:recursion


def test_range_with_non_constant_step():
    with expect("step", "range's step must be a constant integer"):
        @kernel
        def k(out: RW[Array[f32]], n: u32):
            for i in range(0, 10, n):  # E:step
                out[i] = 0.0


def test_missing_annotation():
    with expect("annotation", "parameter 'x' needs a type annotation"):
        @kernel
        def k(out: RW[Array[f32]],
              x):  # E:annotation
            out[0] = 1.0


def test_return_type_mismatch():
    with expect("rettype", "the returned value has type i32, expected f32"):
        @func
        def half(x: i32) -> f32:
            return x // 2  # E:rettype


def test_variable_retyped():
    with expect("retyped", "'acc' was declared as f32", "cannot be re-assigned a u32"):
        @kernel
        def k(out: RW[Array[f32]]):
            acc = 0.0
            acc = gpu.global_id().x  # E:retyped


def test_shared_with_non_constant_size():
    with expect("sharedsize", "gpu.shared's size must be a literal integer or a Const[u32] parameter"):
        @kernel
        def k(out: RW[Array[f32]], n: u32):
            tile = gpu.shared(f32, n)  # E:sharedsize


def test_shared_above_16k():
    with expect("shared16k", "workgroup arrays need 20000 bytes", "16 KiB"):
        @kernel
        def k(out: RW[Array[f32]]):
            a = gpu.shared(f32, 1000)
            b = gpu.shared(f32, 4000)  # E:shared16k


def test_shared_above_16k_at_specialization():
    with expect("specshared", "workgroup arrays need 32768 bytes"):
        @kernel(workgroup_size=(64,))
        def k2(out: RW[Array[f32]], N: Const[u32] = 256):
            tile = gpu.shared(vec4f, N)  # E:specshared
        k2.specialize(N=2048)


def test_workgroup_above_256_invocations():
    with expect("wg", "has 512 invocations", "at most 256"):
        @kernel(workgroup_size=(16, 32))  # E:wg
        def k(out: RW[Array[f32]]):
            out[0] = 1.0


def test_workgroup_above_256_at_specialization():
    @kernel(workgroup_size=("WG",))  # E:wgspec
    def k(out: RW[Array[f32]], WG: Const[u32] = 64):
        out[0] = 1.0
    with expect("wgspec", "has 1024 invocations"):
        k.specialize(WG=1024)


def test_bool_condition_required():
    with expect("cond", "a condition must be bool, got u32", "x != 0"):
        @kernel
        def k(out: RW[Array[f32]], n: u32):
            if n:  # E:cond
                out[0] = 1.0


def test_func_argument_type_checked_at_call():
    with expect("callarg", "argument 'x' has type u32, expected f32"):
        @kernel
        def k(out: RW[Array[f32]]):
            out[0] = takes_f32(gpu.global_id().x)  # E:callarg


def test_assign_to_parameter():
    with expect("param", "'n' is a func parameter and cannot be assigned"):
        @func
        def f(n: u32) -> u32:
            n = n + 1  # E:param
            return n


def test_maybe_unassigned():
    with expect("maybe", "'y' may be used before it is assigned"):
        @kernel
        def k(out: RW[Array[f32]], n: u32):
            if n > 3:
                y = 1.0
            out[0] = y  # E:maybe


def test_loop_variable_after_loop():
    with expect("loopvar", "the loop variable 'j' is only visible inside its loop"):
        @kernel
        def k(out: RW[Array[f32]]):
            for j in range(4):
                out[j] = 0.0
            out[0] = f32(j)  # E:loopvar


def test_func_may_not_return():
    with expect("noreturn", "may end without returning a f32"):
        @func
        def f(x: f32) -> f32:  # E:noreturn
            if x > 0.0:
                return x


def test_string_constant():
    with expect("string", "strings cannot be used"):
        @kernel
        def k(out: RW[Array[f32]]):
            s = "hello"  # E:string


def test_pow_needs_constant_exponent():
    with expect("pow", "** needs a constant integer exponent", "gpu.pow"):
        @kernel
        def k(x: Array[f32], out: RW[Array[f32]]):
            out[0] = x[0] ** x[1]  # E:pow


def test_u32_literal_out_of_range():
    with expect("range", "-1 does not fit in u32"):
        @kernel
        def k(out: RW[Array[u32]]):
            out[0] = u32(-1)  # E:range


def test_atomic_written_directly():
    with expect("atomic", "use gpu.atomic_store"):
        @kernel
        def k(out: RW[Array[Atomic[u32]]]):
            out[0] = 1  # E:atomic


def test_shift_amount_must_be_u32():
    with expect("shift", "operator <<", "argument 2 must be u32, got i32"):
        @kernel
        def k(out: RW[Array[i32]], s: i32):
            out[0] = out[1] << s  # E:shift


def test_constant_shift_of_32_or_more():
    with expect("shift32", "a constant shift amount must be below 32"):
        @kernel
        def k(out: RW[Array[u32]]):
            out[0] = out[1] >> 32  # E:shift32


def test_f16_vector_bitcast_is_refused():
    with expect("bitcast16", "bitcast to or from f16 vectors is not portable"):
        @kernel
        def k(out: RW[Array[u32]]):
            v = gpu.bitcast(vec2h, out[0])  # E:bitcast16


def test_not_a_dsl_type():
    with expect("badtype", "'float' is not a DSL type"):
        @kernel
        def k(out: RW[Array[f32]],
              x: float):  # E:badtype
            out[0] = 1.0


def test_kernel_returning_a_value():
    with expect("kret", "without a return annotation cannot return a value"):
        @kernel
        def k(out: RW[Array[f32]]):
            return 1.0  # E:kret


def test_ids_only_in_kernels():
    with expect("fid", "only available in a kernel"):
        @func
        def f() -> u32:
            return gpu.global_id().x  # E:fid


def test_struct_field_must_be_a_value_type():
    with expect("sfield", "struct field 'data' must be a scalar, vector or struct"):
        @struct
        class Bad:
            n: u32
            data: Array[f32]  # E:sfield


def test_unknown_struct_field():
    @struct
    class Pair:
        a: f32
        b: vec2f
    with expect("nofield", "struct Pair has no field 'c'"):
        @kernel
        def k(p: Pair, out: RW[Array[f32]]):
            out[0] = p.c  # E:nofield


def test_f16_literal_out_of_range():
    with expect("f16", "does not fit in f16"):
        @kernel
        def k(out: RW[Array[f16]]):
            out[0] = f16(70000.0)  # E:f16


def test_unknown_const_at_specialization_is_a_compile_error():
    @kernel(workgroup_size=("WG",))
    def k(out: RW[Array[f32]], WG: Const[u32] = 64):
        out[0] = 1.0
    with pytest.raises(CompileError, match="no Const parameter 'TILE'"):
        k.specialize(TILE=4)


def test_reduction_scratch_must_match_the_workgroup():
    with expect("scratch", "a workgroup reduction needs a power-of-two workgroup and a scratch array",
                "the workgroup has 64, the scratch 32"):
        @kernel(workgroup_size=(64,))
        def k(out: RW[Array[f32]]):
            scratch = gpu.shared(f32, 32)
            out[0] = gpu.workgroup_sum(scratch, 1.0)  # E:scratch


def test_static_range_count_must_be_known_when_compiling():
    with expect("staticcount", "gpu.static_range's count must be a literal, a Python int or a Const parameter, "
                "from 1 to 64"):
        @kernel
        def k(out: RW[Array[f32]], n: u32):
            for r in gpu.static_range(n):  # E:staticcount
                out[r] = 1.0
    with expect("staticbig", "from 1 to 64"):
        @kernel
        def k2(out: RW[Array[f32]]):
            for r in gpu.static_range(65):  # E:staticbig
                out[r] = 1.0


def test_static_range_has_no_break():
    with expect("staticbreak", "break cannot leave a gpu.static_range loop: its body is repeated, not looped"):
        @kernel
        def k(out: RW[Array[f32]]):
            for r in gpu.static_range(2):
                if out[r] > 0.0:
                    break  # E:staticbreak


def test_static_range_only_in_a_for():
    with expect("staticexpr", "gpu.static_range(n) can only be what a for loop iterates over"):
        @kernel
        def k(out: RW[Array[f32]]):
            n = gpu.static_range(2)  # E:staticexpr


def test_private_array_size_must_be_a_literal():
    with expect("arraysize", "gpu.array's size must be a positive literal integer"):
        @kernel
        def k(out: RW[Array[f32]], n: u32):
            acc = gpu.array(f32, n)  # E:arraysize


def test_private_array_above_8k():
    with expect("arraybig", "needs 16384 bytes; keep private arrays within 8192 bytes"):
        @kernel
        def k(out: RW[Array[f32]]):
            acc = gpu.array(vec4f, 1024)  # E:arraybig


def test_private_array_as_an_expression():
    with expect("arrayexpr", "gpu.array(...) must be assigned to a new name"):
        @kernel
        def k(out: RW[Array[f32]]):
            out[0] = gpu.array(f32, 2)[0]  # E:arrayexpr


# -- WGSL a compiler would reject: the DSL says so at the Python line --------------------------------

def test_float_literal_beyond_f32():
    with expect("f32big", "1e+39 does not fit in f32"):
        @kernel
        def k(out: RW[Array[f32]]):
            out[0] = 1e39  # E:f32big


def test_integer_literal_beyond_64_bits():
    with expect("int128", "does not fit in 64 bits"):
        @kernel
        def k(out: RW[Array[f32]]):
            out[0] = f32(100000000000000000000 > out[1])  # E:int128


def test_constant_index_past_a_workgroup_array():
    with expect("tile64", "index 64 is past the end: array<f32, 64> has 64 elements (0 to 63)", col=18):
        @kernel
        def k(out: RW[Array[f32]]):
            tile = gpu.shared(f32, 64)
            tile[64] = 1.0  # E:tile64


def test_constant_index_past_a_private_array():
    with expect("acc4", "index 4 is past the end: array<f32, 4> has 4 elements"):
        @kernel
        def k(out: RW[Array[f32]]):
            acc = gpu.array(f32, 4)
            out[0] = acc[4]  # E:acc4


def test_constant_index_past_a_vector():
    with expect("vec4", "index 4 is past the end: vec4<f32> has 4 components (0 to 3)"):
        @kernel
        def k(out: RW[Array[f32]]):
            out[0] = vec4f(1.0, 2.0, 3.0, 4.0)[4]  # E:vec4


def test_constant_atomic_index_past_a_workgroup_array():
    with expect("atomic4", "index 4 is past the end"):
        @kernel
        def k(out: RW[Array[u32]]):
            counts = gpu.shared(Atomic[u32], 4)
            gpu.atomic_add(counts, 4, 1)  # E:atomic4


def test_constant_index_past_a_const_sized_array_at_specialization():
    @kernel(workgroup_size=(64,))
    def k(out: RW[Array[f32]], N: Const[u32] = 128):
        tile = gpu.shared(f32, N)
        tile[100] = 1.0  # E:tileN
        out[0] = tile[0]
    with expect("tileN", "index 100 is past the end: this workgroup array has N = 64 elements"):
        k.specialize(N=64)


def test_barrier_in_a_branch_on_local_id():
    with expect("localif", "gpu.barrier() must be called in uniform control flow: this `if` depends on "
                "gpu.local_id(), which differs between invocations", col=16):
        @kernel
        def k(out: RW[Array[f32]]):
            if gpu.local_id().x == 0:  # E:localif
                gpu.barrier()


def test_barrier_in_a_loop_whose_bound_differs_per_invocation():
    with expect("loopbound", "gpu.barrier() must be called in uniform control flow: this loop's range depends on "
                "gpu.local_id()"):
        @kernel
        def k(out: RW[Array[f32]]):
            n = gpu.local_id().x
            for i in range(n):  # E:loopbound
                gpu.barrier()


def test_barrier_after_a_return_only_some_invocations_take():
    with expect("someret", "gpu.barrier() must be called in uniform control flow: only some invocations take "
                "this `return`: it depends on gpu.global_id()"):
        @kernel
        def k(out: RW[Array[f32]]):
            if gpu.global_id().x >= len(out):
                return  # E:someret
            gpu.barrier()


def test_barrier_under_a_value_read_from_an_rw_array_names_it():
    with expect("rwread", "this `if` depends on a read of RW array 'out' (line"):
        @kernel
        def k(out: RW[Array[f32]]):
            v = out[0]
            if v > 0.0:  # E:rwread
                gpu.storage_barrier()


def test_workgroup_sum_in_a_non_uniform_branch():
    with expect("wsumif", "gpu.workgroup_sum() must be called in uniform control flow"):
        @kernel(workgroup_size=(64,))
        def k(out: RW[Array[f32]]):
            scratch = gpu.shared(f32, 64)
            if gpu.local_index() < 32:  # E:wsumif
                out[0] = gpu.workgroup_sum(scratch, 1.0)


def test_subgroup_operation_in_a_branch_on_the_lane():
    with expect("lane", "gpu.subgroup_add() must be called in uniform control flow: this `if` depends on "
                "gpu.subgroup_invocation_id()"):
        @kernel
        def k(out: RW[Array[f32]]):
            if gpu.subgroup_invocation_id() == 0:  # E:lane
                out[0] = gpu.subgroup_add(out[1])


@func
def synchronized(v: u32) -> u32:
    gpu.barrier()
    return v + 1


@func
def synchronized_if(v: u32) -> u32:
    if v > 3:
        gpu.barrier()
    return v


def test_func_with_a_barrier_called_in_a_non_uniform_branch():
    with expect("funcflow", "synchronized() (it calls gpu.barrier() on line"):
        @kernel
        def k(out: RW[Array[u32]]):
            if gpu.local_id().x == 0:  # E:funcflow
                out[0] = synchronized(1)


def test_func_argument_that_decides_a_barrier_must_be_uniform():
    with expect("funcarg", "argument 'v' of synchronized_if() must be the same in every invocation", col=38):
        @kernel
        def k(out: RW[Array[u32]]):
            out[0] = synchronized_if(gpu.local_id().x)  # E:funcarg


def test_integer_division_by_a_constant_zero_compiles():
    """WGSL rejects `x / 0u`; the DSL keeps x / 0 == x (test_dsl_language runs it)."""
    @kernel
    def k(out: RW[Array[u32]]):
        y = out[1]
        out[0] = y // 0 + y % 0
    assert "/ 0u" not in k.wgsl and "% 0u" not in k.wgsl


def test_four_hundred_chained_additions_compile():
    from helpers import load_source
    ns = load_source("@kernel\ndef k(out: RW[Array[f32]]):\n    x = out[1]\n    out[0] = " + " + ".join(["x"] * 400)
                     + "\n")
    assert "(x" + " + x" * 399 + ")" in ns["k"].wgsl  # one flat sum: no nesting per term


def test_expression_nesting_too_deep_for_wgsl():
    from helpers import load_source
    with pytest.raises(CompileError, match="this statement nests .* levels deep in WGSL") as info:
        load_source("@kernel\ndef k(out: RW[Array[i32]]):\n    x = out[1]\n    out[0] = " + "-" * 120 + "x\n")
    assert info.value.lineno == 6  # the statement, after the two-line prelude


def test_variable_shadowing_range_is_reported_at_the_assignment():
    with expect("shadow", "'range' names a variable here", "'range' on line", "no longer mean Python's range"):
        @kernel
        def k(out: RW[Array[f32]]):
            range = u32(3)  # E:shadow
            for i in range(range):
                out[i] = 1.0


def test_zero_const_workgroup_size_points_at_the_default():
    with expect("wgzero", "workgroup size (0, 1, 1) must be positive", col=53):
        @kernel(workgroup_size=("WG",))
        def k(out: RW[Array[f32]], WG: Const[u32] = 0):  # E:wgzero
            out[0] = 1.0


def test_vector_only_builtin_says_what_it_takes():
    with expect("dotf32", "dot: does not take f32; it takes vecN of f32|f16|i32|u32"):
        @kernel
        def k(out: RW[Array[f32]]):
            out[0] = gpu.dot(out[1], out[2])  # E:dotf32


def test_constant_shift_of_a_vector_by_32():
    with expect("vshift", "a constant shift amount must be below 32"):
        @kernel
        def k(out: RW[Array[vec2u]]):
            out[0] = out[1] << vec2u(1, 32)  # E:vshift


def test_smoothstep_with_equal_constant_bounds():
    with expect("smooth", "smoothstep's low and high are both 1.0"):
        @kernel
        def k(out: RW[Array[f32]]):
            out[0] = gpu.smoothstep(1.0, 1.0, out[1])  # E:smooth


def test_subgroup_broadcast_lane_of_128():
    with expect("lane128", "subgroup_broadcast's lane must be below 128"):
        @kernel
        def k(out: RW[Array[f32]]):
            out[0] = gpu.subgroup_broadcast(out[1], 128)  # E:lane128


@struct
class Inner:
    a: f32


@struct
class Outer:
    x: f32
    inner: Inner


def test_struct_uniform_with_a_misaligned_struct_field():
    with expect("uniformlayout", "struct Outer cannot be a parameter (a uniform buffer): its field 'inner' "
                "(struct Inner) starts at byte 4, not a multiple of 16"):
        @kernel
        def k(out: RW[Array[f32]],
              p: Outer):  # E:uniformlayout
            out[0] = p.inner.a
