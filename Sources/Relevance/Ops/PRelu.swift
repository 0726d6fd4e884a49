/// ONNX `PRelu` with one slope per channel (axis 1): y = x for x > 0, else slope[c]·x, with
/// f′ = 1 for x > 0, else slope[c] (torch's one-sided choice at 0). A PRelu whose slope is one
/// number is imported as `LeakyRelu` instead; this op holds distinct per-channel slopes, which
/// an `ActivationFunction` (scalar parameters, no channel index) cannot. Output signed.
/// Relevance: `pass` (unchanged) or `gradient` (times f′ at the input).
enum PReluChannels {
  /// Why a slope of shape `slope` cannot be one per channel of an input of shape `x` under
  /// ONNX's (numpy, right-aligned) broadcasting, or nil: every axis but 1 must be 1.
  static func shapeProblem(slope: [Int], x: [Int]) -> String? {
    guard x.count >= 2, slope.count <= x.count else { return "the slope's rank \(slope.count) exceeds the input's \(x.count)" }
    let aligned = [Int](repeating: 1, count: x.count - slope.count) + slope
    for (axis, size) in aligned.enumerated() where size != (axis == 1 ? x[1] : 1) {
      return "slope of shape \(slope) against input \(x) is not one slope per channel (axis 1); clrp supports a PRelu with one slope, or one per channel ([C, 1, 1] for NCHW)"
    }
    return nil
  }

  /// f over x ([N, C, …]) with `slopes.count == C`.
  static func forward(_ x: Tensor, slopes: [Float]) -> Tensor {
    perChannel(x, slopes) { v, s in v > 0 ? v : s * v }
  }

  /// f′ at every element of x.
  static func derivative(_ x: Tensor, slopes: [Float]) -> Tensor {
    perChannel(x, slopes) { v, s in v > 0 ? 1 : s }
  }

  private static func perChannel(_ x: Tensor, _ slopes: [Float], _ f: (Float, Float) -> Float) -> Tensor {
    let channels = slopes.count
    let plane = x.shape.count > 2 ? x.shape[2...].reduce(1, *) : 1
    var out = x.data
    for i in out.indices { out[i] = f(out[i], slopes[(i / plane) % channels]) }
    return Tensor(shape: x.shape, data: out)
  }
}
