//! A tiny computation with a known answer, run on whatever device a face has chosen.
//!
//! It proves the device is not only present but computes correctly: the browser worker runs it
//! when the page pings it, the CLI runs it in `tripletlab doctor`.

#[cfg(feature = "tensors")]
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Left operand, 2x3.
#[cfg(feature = "tensors")]
const LHS: [[f32; 3]; 2] = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
/// Right operand, 3x2.
#[cfg(feature = "tensors")]
const RHS: [[f32; 2]; 3] = [[7.0, 8.0], [9.0, 10.0], [11.0, 12.0]];
/// `LHS x RHS`, worked out by hand: row 1 = (1*7+2*9+3*11, 1*8+2*10+3*12), row 2 likewise.
pub const EXPECTED_PRODUCT: [f32; 4] = [58.0, 64.0, 139.0, 154.0];
/// Largest absolute error accepted: the entries are small integers, exact in f32.
pub const TOLERANCE: f32 = 1e-4;

/// The outcome of [`matmul_check`]: what the device computed next to the known answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatmulCheck {
    /// The 2x2 product the device returned, row by row.
    pub computed: Vec<f32>,
    /// The known answer, row by row.
    pub expected: Vec<f32>,
    /// Largest absolute difference between the two.
    pub max_abs_error: f32,
}

impl MatmulCheck {
    /// Compare a computed 2x2 product with [`EXPECTED_PRODUCT`].
    pub fn from_computed(computed: Vec<f32>) -> Self {
        let max_abs_error = if computed.len() == EXPECTED_PRODUCT.len() {
            computed
                .iter()
                .zip(EXPECTED_PRODUCT)
                .map(|(got, want)| (got - want).abs())
                // A NaN entry must fail the check, and `f32::max` would ignore it.
                .fold(0.0, |worst, err| if err.is_nan() { f32::INFINITY } else { worst.max(err) })
        } else {
            f32::INFINITY
        };
        Self { computed, expected: EXPECTED_PRODUCT.to_vec(), max_abs_error }
    }

    /// Whether the device's answer is right (also false for NaN).
    pub fn passed(&self) -> bool {
        self.max_abs_error <= TOLERANCE
    }
}

/// Why the check could not produce an answer at all.
#[derive(Debug, thiserror::Error)]
pub enum SelfCheckError {
    /// The device failed while computing or reading back the product.
    #[error("the device failed to compute a 2x3 by 3x2 matrix product: {0}")]
    Execution(String),
}

/// Multiply two small matrices on `device` and compare with the known product.
#[cfg(feature = "tensors")]
///
/// Reads the result back asynchronously, so it is safe in a browser.
pub async fn matmul_check(device: &Device) -> Result<MatmulCheck, SelfCheckError> {
    let lhs = Tensor::<2>::from_floats(LHS, device);
    let rhs = Tensor::<2>::from_floats(RHS, device);
    let data = lhs.matmul(rhs).into_data_async().await.map_err(|err| SelfCheckError::Execution(err.to_string()))?;
    let computed =
        data.convert::<f32>().try_into_vec::<f32>().map_err(|err| SelfCheckError::Execution(format!("{err:?}")))?;
    Ok(MatmulCheck::from_computed(computed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "tensors")]
    #[test]
    fn flex_computes_the_known_product() {
        let check = pollster::block_on(matmul_check(&Device::flex())).expect("flex computes");
        assert_eq!(check.computed, EXPECTED_PRODUCT.to_vec());
        assert!(check.passed());
    }

    #[test]
    fn a_wrong_answer_fails_the_check() {
        let check = MatmulCheck::from_computed(vec![58.0, 64.0, 139.0, 155.0]);
        assert_eq!(check.max_abs_error, 1.0);
        assert!(!check.passed());
    }

    #[test]
    fn a_missing_entry_or_nan_fails_the_check() {
        assert!(!MatmulCheck::from_computed(vec![58.0, 64.0, 139.0]).passed());
        assert!(!MatmulCheck::from_computed(vec![58.0, 64.0, 139.0, f32::NAN]).passed());
    }
}
