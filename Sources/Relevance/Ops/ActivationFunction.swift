/// An elementwise activation y = f(x), with everything clrp knows about it: the ONNX op types
/// it is imported from (attributes with their ONNX defaults), its value and derivative, whether
/// its output is non-negative, and which rules beyond `pass` and `gradient` serve it.
///
/// Adding an activation: one file in `Ops/Activations/` with a type conforming to this
/// protocol, one line in `ActivationRegistry.all`, and its test. Shape inference (same shape),
/// the forward kernel (fusable onto a preceding Conv/Dense), the lowering of `pass` (relevance
/// unchanged) and `gradient` (times f′ at the forward input), the non-negativity analysis and
/// the rule vocabulary (`op: <name>`) all come from here.
protocol ActivationFunction: Sendable {
  /// The name tables print and rule files match (`op: Sigmoid`); unique in the registry.
  static var opName: String { get }
  /// ONNX op types (default domain) imported as this activation; empty for one that only a
  /// graph pass produces (SiLU from `x · Sigmoid(x)`).
  static var onnxNames: [String] { get }
  /// Builds the activation from one ONNX node: its attributes with the ONNX defaults.
  static func importing(_ node: ONNXNodeContext) throws -> Self
  /// Whether guided backprop and the deconvnet have a definition here (ReLU only).
  static var servesGuidedRules: Bool { get }

  /// The attribute values (for equality and tables).
  var parameters: [Float] { get }
  /// f(x).
  func value(_ x: Float) -> Float
  /// f′(x); at a kink, the one-sided value torch uses (ReLU: 0 at 0).
  func derivative(_ x: Float) -> Float
  /// The range of f over all x (bounds may be infinite). A lower bound >= 0 makes the output
  /// non-negative (z⁺ terms on its negative part are dropped); a range inside [0, 1] makes it a
  /// gate when it multiplies another activation (squeeze-and-excitation).
  var outputBounds: ClosedRange<Float> { get }
  /// f over a tensor; the default maps `value` over the elements.
  func forward(_ x: Tensor) -> Tensor
  /// f as a clamp to an interval, when it is one (ReLU, Clip): the convolution kernels then
  /// apply it in the same pass as their bias. Nil by default.
  var clamp: Clamp? { get }
}

extension ActivationFunction {
  static var servesGuidedRules: Bool { false }
  var clamp: Clamp? { nil }
  func forward(_ x: Tensor) -> Tensor { Kernels.elementwise(x) { value($0) } }
}

/// What an activation's or registered op's importer sees of its ONNX node.
struct ONNXNodeContext {
  let opType: String
  /// The node's name in the file.
  var name = ""
  /// The node's outputs as the file names them (optional ones empty).
  var outputs: [ValueName] = []
  let attributes: ONNXAttributes
  let opset: Int
  /// The node's inputs (trailing empty names removed).
  let inputs: [ValueName]
  let constants: [ValueName: Constant]
  let fail: (String) -> ModelError

  /// A name for a constant this node's import adds (`<node>::<suffix>`), unused so far.
  func unusedConstantName(_ suffix: String) -> ValueName {
    var name = "\(self.name)::\(suffix)"
    while constants[name] != nil { name += "_" }
    return name
  }

  /// The constant behind input `index`, nil when absent or computed at run time.
  func constantInput(_ index: Int) -> Constant? {
    index < inputs.count && !inputs[index].isEmpty ? constants[inputs[index]] : nil
  }

  /// Input `index` as a constant scalar; nil when the input is absent, an error when it is not constant.
  func scalarInput(_ index: Int) throws -> Float? {
    guard index < inputs.count, !inputs[index].isEmpty else { return nil }
    guard let c = constantInput(index), c.count == 1 else {
      throw fail("input \(index) ('\(inputs[index])') must be a constant scalar")
    }
    return c.floats[0]
  }
}

/// An activation as an `Op` payload: equal when the same function with the same parameters.
public struct Activation: Equatable, Sendable, CustomStringConvertible {
  let function: any ActivationFunction

  init(_ function: any ActivationFunction) { self.function = function }

  public var name: String { type(of: function).opName }
  public var parameters: [Float] { function.parameters }
  public var outputIsNonNegative: Bool { function.outputBounds.lowerBound >= 0 }
  /// Whether f(x) ∈ [0, 1] for every x (Sigmoid, HardSigmoid): a gate when multiplied with a signal.
  public var isUnitInterval: Bool { function.outputBounds.lowerBound >= 0 && function.outputBounds.upperBound <= 1 }
  public var servesGuidedRules: Bool { type(of: function).servesGuidedRules }
  /// The activation as a clamp the conv kernels can fuse (ReLU, Clip), nil otherwise.
  public var clamp: Clamp? { function.clamp }

  public static func == (a: Activation, b: Activation) -> Bool {
    a.name == b.name && a.parameters == b.parameters
  }

  public var description: String {
    parameters.isEmpty ? name : "\(name)(\(parameters.map { "\($0)" }.joined(separator: ", ")))"
  }
}

/// Every activation clrp knows, listed once.
enum ActivationRegistry {
  static let all: [any ActivationFunction.Type] = [
    Relu.self, LeakyRelu.self, Clip.self, Sigmoid.self, HardSigmoid.self, HardSwish.self, Tanh.self,
    SiLU.self, GELU.self, Erf.self, Softplus.self, Softsign.self, Elu.self, Selu.self, Mish.self,
    ThresholdedRelu.self, Pow.self,
  ]

  /// The activation imported from ONNX op type `onnxName`, nil when none is.
  static func type(onnx onnxName: String) -> (any ActivationFunction.Type)? {
    all.first { $0.onnxNames.contains(onnxName) }
  }

  static var opNames: [String] { all.map { $0.opName } }
  static var onnxNames: [String] { all.flatMap { $0.onnxNames } }
}

extension Op {
  /// `Relu`, `LeakyRelu` and `Clip` as ops, for code that builds graphs.
  public static var relu: Op { .activation(Activation(Relu())) }
  public static func leakyRelu(alpha: Float) -> Op { .activation(Activation(LeakyRelu(alpha: alpha))) }
  /// Clamp to [min, max]; absent bounds are ±infinity.
  public static func clip(min: Float, max: Float) -> Op { .activation(Activation(Clip(low: min, high: max))) }
  public static var sigmoid: Op { .activation(Activation(Sigmoid())) }
  public static var silu: Op { .activation(Activation(SiLU())) }
}
