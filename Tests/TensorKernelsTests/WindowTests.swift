import XCTest
@testable import TensorKernels

final class Window2DTests: XCTestCase {
  func testCeilModeDropsWindowStartingInPadding() {
    // PyTorch: MaxPool2d(3, 2, ceil_mode=True) on 112 → 56; on 6 with pad 0 → 3.
    XCTAssertEqual(Window2D(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, ceilMode: true).outputSize(height: 112, width: 6).height, 56)
    XCTAssertEqual(Window2D(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, ceilMode: true).outputSize(height: 112, width: 6).width, 3)
    // floor mode: (112 - 3)/2 + 1 = 55
    XCTAssertEqual(Window2D(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2).outputSize(height: 112, width: 112).height, 55)
    // ceil with padding 1, 2x2 stride 2 on 5: ceil((5+2-2)/2)+1 = 4, last starts at 6 >= 5+1 → 3
    XCTAssertEqual(Window2D(kernelH: 2, kernelW: 2, strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, ceilMode: true).outputSize(height: 5, width: 5).height, 3)
  }
}
