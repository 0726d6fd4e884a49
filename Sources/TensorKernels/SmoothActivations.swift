import CKernels

extension Kernels {
  /// `y = f(x)` elementwise into a new tensor, eight lanes at a time (the tail padded with
  /// zeros), in parallel chunks when `x` is large.
  @inline(__always)
  static func mapVectors(_ x: Tensor, _ f: (SIMD8<Float>) -> SIMD8<Float>) -> Tensor {
    let count = x.count
    let data = x.data.withUnsafeBufferPointer { xb in
      makeArray(count: count) { y in
        let src = xb.base
        parallelChunks((count + 7) / 8, work: count) { blocks in
          for block in blocks {
            let start = block * 8
            if start + 8 <= count {
              let v = UnsafeRawPointer(src + start).loadUnaligned(as: SIMD8<Float>.self)
              UnsafeMutableRawPointer(y + start).storeBytes(of: f(v), as: SIMD8<Float>.self)
            } else {
              var v = SIMD8<Float>()
              for k in start..<count { v[k - start] = src[k] }
              let w = f(v)
              for k in start..<count { y[k] = w[k - start] }
            }
          }
        }
      }
    }
    return Tensor(shape: x.shape, data: data)
  }

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

  /// ONNX `HardSigmoid`: `y = max(0, min(1, alpha · x + beta))` elementwise; NaN stays NaN.
  public static func hardSigmoid(_ x: Tensor, alpha: Float, beta: Float) -> Tensor {
    mapVectors(x) { v in
      let y = v * alpha + beta
      return y.replacing(with: 0, where: y .< 0).replacing(with: 1, where: y .> 1)
    }
  }

  /// ONNX `HardSwish`: `y = x · max(0, min(1, x / 6 + 1/2))` elementwise; NaN stays NaN.
  public static func hardSwish(_ x: Tensor) -> Tensor {
    mapVectors(x) { v in
      let g = v * (1.0 / 6) + 0.5
      return v * g.replacing(with: 0, where: g .< 0).replacing(with: 1, where: g .> 1)
    }
  }
}
