import CKernels

extension Kernels {
  /// `y = f(x)` elementwise into a new tensor by a C buffer kernel `f(x, y, count)` of
  /// CKernels, in parallel chunks (multiples of eight elements) when `x` is large.
  @inline(__always)
  static func mapBuffer(
    _ x: Tensor, _ f: (UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Int) -> Void
  ) -> Tensor {
    let count = x.count
    let data = x.data.withUnsafeBufferPointer { xb in
      makeArray(count: count) { y in
        let src = xb.base
        parallelChunks((count + 7) / 8, work: count) { blocks in
          let start = blocks.lowerBound * 8
          f(src + start, y + start, min(count, blocks.upperBound * 8) - start)
        }
      }
    }
    return Tensor(shape: x.shape, data: data)
  }

  /// ONNX `Sigmoid`: `y = 1 / (1 + e^−x)` elementwise, by `clrp_sigmoid` (AVX-512 or AVX2+FMA
  /// where the CPU has it; relative error below 5e−7, see CKernels.h).
  public static func sigmoid(_ x: Tensor) -> Tensor {
    mapBuffer(x) { clrp_sigmoid($0, $1, $2) }
  }

  /// SiLU (Swish), as exporters write it (`Mul(x, Sigmoid(x))`): `y = x · σ(x)` elementwise, by
  /// `clrp_silu` (AVX-512 or AVX2+FMA where the CPU has it).
  public static func silu(_ x: Tensor) -> Tensor {
    mapBuffer(x) { clrp_silu($0, $1, $2) }
  }

  /// The instruction set the C kernels (sigmoid, SiLU, depthwise convolution, plane means) run
  /// on this CPU: "baseline" (SSE2), "avx2" (with FMA) or "avx512" (AVX-512F).
  public static var cKernelInstructionSet: String {
    switch Int(clrp_cpu_level()) {
    case CLRP_LEVEL_AVX512: return "avx512"
    case CLRP_LEVEL_AVX2: return "avx2"
    default: return "baseline"
    }
  }

  /// ONNX `HardSigmoid`: `y = max(0, min(1, alpha · x + beta))` elementwise, by
  /// `clrp_hard_sigmoid` (AVX-512 or AVX2+FMA where the CPU has it); NaN stays NaN.
  public static func hardSigmoid(_ x: Tensor, alpha: Float, beta: Float) -> Tensor {
    mapBuffer(x) { clrp_hard_sigmoid($0, $1, $2, alpha, beta) }
  }

  /// ONNX `HardSwish`: `y = x · max(0, min(1, x / 6 + 1/2))` elementwise, by `clrp_hard_swish`
  /// (AVX-512 or AVX2+FMA where the CPU has it); NaN stays NaN.
  public static func hardSwish(_ x: Tensor) -> Tensor {
    mapBuffer(x) { clrp_hard_swish($0, $1, $2) }
  }
}
