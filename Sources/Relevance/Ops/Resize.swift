import Foundation

/// ONNX `Resize` (opset 10 and later) in nearest and linear mode over the spatial axes of an
/// NCHW tensor. Which input position an output position reads, per axis (ONNX operator spec):
///
///   x_original = half_pixel:          (x + 0.5) / scale − 0.5
///                pytorch_half_pixel:  the same, or 0 when the output length is 1
///                align_corners:       x · (in − 1) / (out − 1), or 0 when out is 1
///                asymmetric:          x / scale
///                tf_half_pixel_for_nn: (x + 0.5) / scale
///   nearest: x_original rounded by `nearest_mode`, clamped to [0, in − 1];
///   linear:  x_original clamped to [0, in − 1], then its two neighbours weighted by distance.
///
/// `scale` is the given scale, or out / in when sizes are given. Resampling is linear in x with
/// non-negative weights summing to 1 per output, so its adjoint conserves relevance.
public struct Resize2D: Equatable, Sendable {
  public enum Mode: String, Sendable { case nearest, linear }
  public enum Coordinates: String, Sendable {
    case halfPixel = "half_pixel", pytorchHalfPixel = "pytorch_half_pixel", alignCorners = "align_corners"
    case asymmetric, tfHalfPixelForNN = "tf_half_pixel_for_nn"
  }
  public enum Rounding: String, Sendable {
    case roundPreferFloor = "round_prefer_floor", roundPreferCeil = "round_prefer_ceil", floor, ceil
  }

  public var mode: Mode
  public var coordinates: Coordinates
  public var rounding: Rounding
  /// Whether the node's second input holds the output sizes (else the scales), all 4 axes.
  public var givesSizes: Bool = false
  /// The output height and width and the scales of the coordinate transform (H, W); filled by
  /// shape inference from the `scales` or `sizes` input.
  public var outputSize: [Int]? = nil
  public var scales: [Float]? = nil

  /// The taps of every output position along one axis.
  func taps(inSize: Int, outSize: Int, scale: Float) -> [Kernels.InterpolationTaps] {
    (0..<outSize).map { i -> Kernels.InterpolationTaps in
      let x = Float(i)
      var original: Float
      switch coordinates {
      case .halfPixel: original = (x + 0.5) / scale - 0.5
      case .pytorchHalfPixel: original = outSize > 1 ? (x + 0.5) / scale - 0.5 : 0
      case .alignCorners: original = outSize > 1 ? x * Float(inSize - 1) / Float(outSize - 1) : 0
      case .asymmetric: original = x / scale
      case .tfHalfPixelForNN: original = (x + 0.5) / scale
      }
      switch mode {
      case .nearest:
        let rounded: Float
        switch rounding {
        case .roundPreferFloor: rounded = original - original.rounded(.down) == 0.5 ? original.rounded(.down) : original.rounded()
        case .roundPreferCeil: rounded = original - original.rounded(.down) == 0.5 ? original.rounded(.up) : original.rounded()
        case .floor: rounded = original.rounded(.down)
        case .ceil: rounded = original.rounded(.up)
        }
        return [(min(max(Int(rounded), 0), inSize - 1), 1)]
      case .linear:
        original = min(max(original, 0), Float(inSize - 1))
        let low = Int(original.rounded(.down)), high = min(low + 1, inSize - 1)
        let w = original - Float(low)
        return high == low ? [(low, Float(1))] : [(low, 1 - w), (high, w)]
      }
    }
  }

  /// Why clrp refuses this resize of an input of `inputSize` (H, W) given by scales, or nil.
  ///
  /// The ONNX specification (opset 11 and later) computes align_corners coordinates with the
  /// resized length in · scale, fractional when the scale does not divide evenly, and tests
  /// `length_resized > 1` for pytorch_half_pixel with it; onnxruntime and PyTorch use the integer
  /// output length. Where the two differ, either answer is wrong for half of the models, so the
  /// node is refused (ONNX case test_resize_downsample_scales_linear_align_corners: 2 × 4 by 0.6
  /// gives [1, 3.142857] by the specification, [1, 4] in onnxruntime).
  func fractionalLengthProblem(inputSize: [Int]) -> String? {
    guard !givesSizes, let scales, let outputSize else { return nil }
    for (axis, name) in ["H", "W"].enumerated() {
      let length = Float(inputSize[axis]) * scales[axis], out = outputSize[axis]
      let differs: Bool
      switch coordinates {
      case .alignCorners: differs = out > 1 && abs(length - Float(out)) > 1e-4 * Float(out)  // out 1 reads 0 in both
      case .pytorchHalfPixel: differs = out == 1 && length > 1 + 1e-4
      default: differs = false
      }
      if differs {
        return "coordinate_transformation_mode \(coordinates.rawValue) with scale \(scales[axis]) along \(name) makes a fractional output length \(inputSize[axis]) × \(scales[axis]) = \(length) (the output has \(out)): the ONNX specification computes the coordinates from \(length), onnxruntime and PyTorch from \(out), and the results differ; give the output `sizes` instead of `scales`, or a scale whose product with the input size is whole"
      }
    }
    return nil
  }

  /// Row and column taps for an input of `inputShape` (NCHW); needs `outputSize` and `scales`.
  func taps(inputShape: [Int]) -> (rows: [Kernels.InterpolationTaps], columns: [Kernels.InterpolationTaps]) {
    (taps(inSize: inputShape[2], outSize: outputSize![0], scale: scales![0]),
     taps(inSize: inputShape[3], outSize: outputSize![1], scale: scales![1]))
  }

  /// Reads the attributes of an ONNX Resize node (defaults: nearest, half_pixel,
  /// round_prefer_floor); modes and options clrp does not implement are errors.
  static func importing(_ a: ONNXAttributes, fail: (String) -> ModelError) throws -> Resize2D {
    let modeName = try a.string("mode", "nearest")
    guard let mode = Mode(rawValue: modeName) else { throw fail("mode '\(modeName)' is not supported (nearest, linear)") }
    let coordinateName = try a.string("coordinate_transformation_mode", "half_pixel")
    guard let coordinates = Coordinates(rawValue: coordinateName) else {
      throw fail("coordinate_transformation_mode '\(coordinateName)' is not supported")
    }
    let roundingName = try a.string("nearest_mode", "round_prefer_floor")
    guard let rounding = Rounding(rawValue: roundingName) else { throw fail("nearest_mode '\(roundingName)' is not supported") }
    if try a.int("antialias", 0) != 0 { throw fail("antialias=1 is not supported") }
    if try a.ints("axes") != nil { throw fail("the 'axes' attribute is not supported") }
    let policy = try a.string("keep_aspect_ratio_policy", "stretch")
    guard policy == "stretch" else { throw fail("keep_aspect_ratio_policy '\(policy)' is not supported") }
    return Resize2D(mode: mode, coordinates: coordinates, rounding: rounding)
  }
}
