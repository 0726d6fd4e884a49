extension Kernels {
  /// `y = f(x)` elementwise into a new tensor of x's shape, in parallel chunks when x is
  /// large. For activations defined by their scalar function (Sigmoid, Tanh, GELU, ...).
  public static func elementwise(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
    map(x, f)
  }
}
