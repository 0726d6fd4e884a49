/// The sliding-window geometry shared by 2-D convolution and pooling, in ONNX conventions.
///
/// Output size per axis (ONNX Conv/MaxPool/AveragePool, explicit pads):
///   out = floor_or_ceil((in + padBegin + padEnd - ((k - 1) * d + 1)) / s) + 1
/// With `ceilMode`, a last window that would start inside the end padding is dropped
/// (`(out - 1) * s >= in + padBegin` → `out - 1`), as PyTorch and onnxruntime do.
public struct Window2D: Equatable, Hashable, Sendable {
  public var kernelH: Int, kernelW: Int
  public var strideH: Int = 1, strideW: Int = 1
  public var dilationH: Int = 1, dilationW: Int = 1
  public var padTop: Int = 0, padLeft: Int = 0, padBottom: Int = 0, padRight: Int = 0
  public var ceilMode: Bool = false

  public init(kernelH: Int, kernelW: Int, strideH: Int = 1, strideW: Int = 1,
              dilationH: Int = 1, dilationW: Int = 1,
              padTop: Int = 0, padLeft: Int = 0, padBottom: Int = 0, padRight: Int = 0,
              ceilMode: Bool = false) {
    self.kernelH = kernelH; self.kernelW = kernelW
    self.strideH = strideH; self.strideW = strideW
    self.dilationH = dilationH; self.dilationW = dilationW
    self.padTop = padTop; self.padLeft = padLeft; self.padBottom = padBottom; self.padRight = padRight
    self.ceilMode = ceilMode
  }

  static func outputLength(input: Int, kernel: Int, stride: Int, dilation: Int,
                           padBegin: Int, padEnd: Int, ceil: Bool) -> Int {
    let span = input + padBegin + padEnd - ((kernel - 1) * dilation + 1)
    if span < 0 { return 0 }
    var out = (ceil ? (span + stride - 1) / stride : span / stride) + 1
    if ceil && (out - 1) * stride >= input + padBegin { out -= 1 }
    return out
  }

  /// Output (height, width) for an input of the given spatial size; 0 when the window does not fit.
  public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
    (Self.outputLength(input: height, kernel: kernelH, stride: strideH, dilation: dilationH,
                       padBegin: padTop, padEnd: padBottom, ceil: ceilMode),
     Self.outputLength(input: width, kernel: kernelW, stride: strideW, dilation: dilationW,
                       padBegin: padLeft, padEnd: padRight, ceil: ceilMode))
  }
}
