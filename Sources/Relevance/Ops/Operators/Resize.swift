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
  static func attributes(_ a: ONNXAttributes, fail: (String) -> ModelError) throws -> Resize2D {
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

/// Resize and Upsample in the op registry: `[x, scales or sizes]`, the output size and scales
/// resolved by shape inference. Relevance (rule family `other`): `pass` and `gradient` are both
/// the adjoint (`resizeAdjoint`). Output ≥ 0 where the input is.
extension Resize2D: OperatorDefinition {
  static let opNames = ["Resize"]
  static let onnxNames = ["Resize", "Upsample"]
  var opName: String { "Resize" }
  public var description: String { "Resize(\(mode.rawValue), \(coordinates.rawValue))" }

  static func importing(_ node: ONNXNodeContext) throws -> ImportedNode {
    node.opType == "Upsample" ? try importingUpsample(node) : try importingResize(node)
  }

  private static func importingResize(_ node: ONNXNodeContext) throws -> ImportedNode {
    var resize = try Resize2D.attributes(node.attributes, fail: node.fail)
    let opset = node.opset, inputs = node.inputs
    if opset < 11 {
      // Resize-10 has only `mode`; it resamples as Upsample does (asymmetric coordinates,
      // nearest rounding down), not with opset 11's defaults (half_pixel).
      resize = Resize2D(mode: resize.mode, coordinates: .asymmetric, rounding: .floor)
      if resize.mode == .nearest, let scales = node.constantInput(1), scales.floats.contains(where: { $0 < 1 }) {
        throw node.fail("nearest downsampling (scales \(scales.floats)) in opset \(opset) is not supported: onnxruntime rounds positions up there; export with opset 11 or later")
      }
    }
    let scalesIndex = opset < 11 ? 1 : 2, sizesIndex = opset < 11 ? -1 : 3
    if sizesIndex > 0, sizesIndex < inputs.count, !inputs[sizesIndex].isEmpty {
      resize.givesSizes = true
      return ImportedNode(op: .registered(resize), inputs: [inputs[0], inputs[sizesIndex]])
    } else if scalesIndex < inputs.count, !inputs[scalesIndex].isEmpty {
      return ImportedNode(op: .registered(resize), inputs: [inputs[0], inputs[scalesIndex]])
    }
    throw node.fail("needs 'scales' or 'sizes'")
  }

  /// Upsample (opsets 7 to 9, deprecated in 10) is Resize with asymmetric coordinates and,
  /// in nearest mode, the input position rounded down (ONNX Upsample-7/9 reference;
  /// onnxruntime's "simple" nearest mode for scales ≥ 1). Scales: attribute (7), input (9).
  private static func importingUpsample(_ node: ONNXNodeContext) throws -> ImportedNode {
    let modeName = try node.attributes.string("mode", "nearest")
    guard let mode = Mode(rawValue: modeName) else { throw node.fail("mode '\(modeName)' is not supported (nearest, linear)") }
    let scales: [Float]
    var imported = ImportedNode(op: .registered(Resize2D(mode: mode, coordinates: .asymmetric, rounding: .floor)), inputs: [])
    if let given = try node.attributes.floats("scales") {
      scales = given
      let name = node.unusedConstantName("scales")
      imported.constants[name] = Constant(shape: [given.count], floats: given)
      imported.inputs = [node.inputs[0], name]
    } else if node.inputs.count >= 2, !node.inputs[1].isEmpty {
      guard let given = node.constantInput(1) else {
        throw node.fail("the scales input '\(node.inputs[1])' is not a constant; clrp needs constant scales")
      }
      scales = given.floats
      imported.inputs = [node.inputs[0], node.inputs[1]]
    } else {
      throw node.fail("needs 'scales' (attribute in opset 7, input in opset 9)")
    }
    // Below 1 the specification gives no result and onnxruntime rounds up instead of down.
    guard scales.allSatisfy({ $0 >= 1 }) else { throw node.fail("scales \(scales) must be at least 1 (Upsample does not downsample; use Resize)") }
    return imported
  }

  /// The output size and scales from the `scales` or `sizes` input.
  func resolved(_ node: NodeShapes) throws -> Resize2D {
    var resize = self
    let x = try node.shape(0)
    guard x.count == 4 else { throw node.fail("resizes NCHW inputs of rank 4 only, got \(x)") }
    let given = try node.requireConstant(1, resize.givesSizes ? "sizes" : "scales")
    guard given.count == 4 else { throw node.fail("needs 4 \(resize.givesSizes ? "sizes" : "scales"), got \(given.count)") }
    if resize.givesSizes {
      let sizes = given.ints
      guard sizes[0] == x[0], sizes[1] == x[1], sizes[2] > 0, sizes[3] > 0, sizes[2] <= 1 << 20, sizes[3] <= 1 << 20 else {
        throw node.fail("sizes \(sizes) must keep the batch and channel axes of \(x) and be positive")
      }
      resize.outputSize = [sizes[2], sizes[3]]
      resize.scales = [Float(sizes[2]) / Float(x[2]), Float(sizes[3]) / Float(x[3])]
    } else {
      let scales = given.floats
      guard scales[0] == 1, scales[1] == 1, scales[2] > 0, scales[3] > 0, scales[2] <= 4096, scales[3] <= 4096 else {
        throw node.fail("scales \(scales) must be 1 on the batch and channel axes and positive (at most 4096)")
      }
      resize.outputSize = [Int((Float(x[2]) * scales[2]).rounded(.down)), Int((Float(x[3]) * scales[3]).rounded(.down))]
      resize.scales = [scales[2], scales[3]]
      if let problem = resize.fractionalLengthProblem(inputSize: [x[2], x[3]]) { throw node.fail(problem) }
    }
    return resize
  }

  func outputShape(_ node: NodeShapes) throws -> [Int] {
    let x = try node.shape(0)
    return [x[0], x[1]] + (try resolved(node).outputSize!)
  }

  func forwardKernel(_ node: Node, in graph: Graph) throws -> @Sendable ([Tensor]) -> Tensor {
    let (rows, columns) = taps(inputShape: graph.shapes[node.inputs[0]]!)
    return { Kernels.resize2d($0[0], rows: rows, columns: columns) }
  }

  func outputIsNonNegative(inputs: [Bool]) -> Bool { inputs.allSatisfy { $0 } }

  func backward(_ rule: Rule, node: Node, graph: Graph) throws -> RelevancePlan.Backward? {
    guard rule == .pass || rule == .gradient else { return nil }
    let (rows, columns) = taps(inputShape: graph.shapes[node.inputs[0]]!)
    return .resizeAdjoint(rows: rows, columns: columns)
  }
}

extension Op {
  /// A Resize as an op, for code that builds graphs (`[x, scales or sizes]`).
  public static func resize(_ resize: Resize2D) -> Op { .registered(resize) }
}
