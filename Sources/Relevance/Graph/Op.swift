/// How a convolution or pooling node chooses its padding (ONNX `auto_pad`).
/// Anything but `.explicit` is resolved into `Window2D` pads by shape inference.
public enum AutoPad: String, Equatable, Sendable {
  case explicit = "NOTSET"
  case sameUpper = "SAME_UPPER"
  case sameLower = "SAME_LOWER"
  case valid = "VALID"
}

/// A 2-D convolution: `inputs = [x, W, B?]`, W of shape [M, C/group, kH, kW].
public struct Conv2D: Equatable, Sendable {
  public var window: Window2D
  public var group: Int
  public var autoPad: AutoPad
}

/// A 2-D transposed convolution (ONNX ConvTranspose): `inputs = [x, W, B?]`, W of shape
/// [C_in, C_out/group, kH, kW]; the adjoint of the conv with this `window` and `group` from
/// C_out to C_in channels. Output size per axis:
/// stride·(in − 1) + outputPadding + dilation·(k − 1) + 1 − padBegin − padEnd.
public struct ConvTranspose2D: Equatable, Sendable {
  public var window: Window2D
  public var group: Int
  /// `output_padding` (height, width).
  public var outputPadding: [Int]

  /// The conv this op is the adjoint of.
  public var adjointConv: Conv2D { Conv2D(window: window, group: group, autoPad: .explicit) }
}

/// A 2-D pooling window with its padding policy.
public struct Pool2D: Equatable, Sendable {
  public var window: Window2D
  public var autoPad: AutoPad
  /// AveragePool only: whether padded positions count in the divisor.
  public var countIncludePad: Bool
}

/// ONNX LRN across channels: y = x / (bias + alpha/size · Σ x²)^beta (see `LocalResponseNormalization`).
public struct LRNParameters: Equatable, Sendable {
  public var size: Int
  public var alpha: Float
  public var beta: Float
  public var bias: Float
}

/// ONNX Gemm: Y = alpha · A' · B' + beta · C, A' = transA ? Aᵀ : A, B' likewise.
public struct GemmParameters: Equatable, Sendable {
  public var alpha: Float
  public var beta: Float
  public var transA: Bool
  public var transB: Bool
}

/// The operations of the IR. Parameters are node inputs naming graph constants.
///
/// The first group is what canonical graphs hold and what the runtime executes; the second
/// group is what exporters emit and the passes fold away or rewrite into the first group.
/// Adding an op: see Docs/DESIGN.md, "One place per op, one place per rule" (an activation
/// is one file in `Ops/Activations/` plus one line in `ActivationRegistry.all`; an op no pass
/// rewrites is one file in `Ops/Operators/` plus one line in `OperatorRegistry.all`).
public enum Op: Equatable, Sendable {
  // Layers and activations (canonical).
  /// `[x, W, B?]`, see `Conv2D`.
  case conv(Conv2D)
  /// `[x, W, B?]`, see `ConvTranspose2D`.
  case convTranspose(ConvTranspose2D)
  /// `[x, W, B?]`: y = x·Wᵀ + B for x of shape [N, K], W of shape [M, K].
  case dense
  /// `[x, scale, shift]`: y = x·scale[c] + shift[c] along axis 1 (BatchNorm, Keras' Mul+Add).
  case affine
  /// An elementwise activation (Relu, LeakyRelu, Clip, Sigmoid, ...), see `ActivationFunction`.
  case activation(Activation)
  case maxPool(Pool2D)
  case avgPool(Pool2D)
  case globalAvgPool
  /// An op defined in one file of `Ops/Operators/` and listed in `OperatorRegistry.all` (LRN,
  /// Max/Min of activations, ReduceMax/ReduceMin over any axes), see `OperatorDefinition`.
  case registered(RegisteredOp)
  case concat(axis: Int)
  /// Two inputs, either may be constant, numpy broadcasting.
  case elementwise(BinaryOp)
  /// `[x, pads, value?]`, constant mode only; pads in ONNX order (begins, then ends).
  case pad
  case softmax(axis: Int)
  case transpose(perm: [Int])
  /// Flatten, Reshape, Squeeze, Unsqueeze on activations: the data is unchanged, only the
  /// shape; the target comes from shape inference. Inputs beyond the first are shape operands.
  case flatten(axis: Int)
  case reshape(allowZero: Bool)
  case squeeze(axes: [Int]?)
  case unsqueeze(axes: [Int]?)

  // Exporter plumbing, removed or rewritten by passes.
  case identity
  case dropout
  /// `[x, scale, B, mean, var]`.
  case batchNorm(epsilon: Float)
  /// `[A, B, C?]`.
  case gemm(GemmParameters)
  case matMul
  case shape(start: Int, end: Int?)
  case gather(axis: Int)
  /// `[x, starts, ends, axes?, steps?]`.
  case slice
  case cast(toFloat: Bool)
  /// `[shape]`, filled with the value.
  case constantOfShape(value: Constant)
  /// `[x, axes?]`: the mean over `axes` (attribute before opset 18, else the input; none given:
  /// every axis, or nothing with `noopWithEmptyAxes`). Over the spatial axes of an NCHW
  /// tensor it is a global average pooling, which is what the canonical graph holds.
  case reduceMean(axes: [Int]?, keepDims: Bool, noopWithEmptyAxes: Bool)
  /// The maximum over each channel's plane; shape inference makes it a `maxPool` whose window
  /// is the whole plane.
  case globalMaxPool

  /// The ONNX-like name used in tables.
  public var name: String {
    switch self {
    case .conv: return "Conv"
    case .dense: return "Dense"
    case .convTranspose: return "ConvTranspose"
    case .affine: return "Affine"
    case .activation(let a): return a.name
    case .maxPool: return "MaxPool"
    case .avgPool: return "AveragePool"
    case .globalAvgPool: return "GlobalAveragePool"
    case .registered(let r): return r.name
    case .concat: return "Concat"
    case .elementwise(let op): return op.onnxName
    case .pad: return "Pad"
    case .softmax: return "Softmax"
    case .transpose: return "Transpose"
    case .flatten: return "Flatten"
    case .reshape: return "Reshape"
    case .squeeze: return "Squeeze"
    case .unsqueeze: return "Unsqueeze"
    case .identity: return "Identity"
    case .dropout: return "Dropout"
    case .batchNorm: return "BatchNormalization"
    case .gemm: return "Gemm"
    case .matMul: return "MatMul"
    case .shape: return "Shape"
    case .gather: return "Gather"
    case .slice: return "Slice"
    case .cast: return "Cast"
    case .constantOfShape: return "ConstantOfShape"
    case .reduceMean: return "ReduceMean"
    case .globalMaxPool: return "GlobalMaxPool"
    }
  }
}

extension BinaryOp {
  public var onnxName: String {
    switch self {
    case .add: return "Add"
    case .sub: return "Sub"
    case .mul: return "Mul"
    case .div: return "Div"
    }
  }
}
