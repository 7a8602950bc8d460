//! Rankings from block scores, and rank agreement (Spearman's rho) for the
//! stability studies (docs/paper.md §7, questions 1-2).

/// Block indices sorted by descending score (highest priority first); ties
/// and NaNs keep block order (NaN ranks last).
pub fn order_by_score(scores: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| {
        let (x, y) = (scores[a], scores[b]);
        match (x.is_nan(), y.is_nan()) {
            (true, true) => a.cmp(&b),
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ => y.partial_cmp(&x).expect("non-NaN").then(a.cmp(&b)),
        }
    });
    idx
}

/// rank[i] = position of block i in `order` (0 = highest priority).
pub fn ranks(order: &[usize]) -> Vec<usize> {
    let mut r = vec![0; order.len()];
    for (pos, &i) in order.iter().enumerate() {
        r[i] = pos;
    }
    r
}

/// Kendall's tau-b of two score vectors: (concordant - discordant) pairs
/// over the geometric mean of the pairs untied in each (NaN when one is constant).
pub fn kendall(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "score vectors of different lengths");
    let (mut s, mut ta, mut tb) = (0i64, 0i64, 0i64);
    for i in 0..a.len() {
        for j in i + 1..a.len() {
            let (x, y) = ((a[i] - a[j]).signum() as i64, (b[i] - b[j]).signum() as i64);
            let (x, y) = (if a[i] == a[j] { 0 } else { x }, if b[i] == b[j] { 0 } else { y });
            s += x * y;
            ta += x.abs();
            tb += y.abs();
        }
    }
    s as f64 / ((ta * tb) as f64).sqrt()
}

/// Spearman's rank correlation of two score vectors (average ranks for ties).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "score vectors of different lengths");
    let (ra, rb) = (average_ranks(a), average_ranks(b));
    pearson(&ra, &rb)
}

fn average_ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Pearson correlation; 0 when either side is constant.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    if va == 0.0 || vb == 0.0 {
        0.0
    } else {
        cov / (va * vb).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kendall_matches_scipy() {
        // python3 -c "from scipy.stats import kendalltau; print(kendalltau([1,2,3,4],[1,3,2,4])[0],
        //   kendalltau([1,2,3,4,5],[5,4,3,2,1])[0], kendalltau([1,2,2,3],[1,2,3,3])[0])"
        //   -> 0.6666666666666669 -0.9999999999999999 0.7999999999999999
        assert!((kendall(&[1., 2., 3., 4.], &[1., 3., 2., 4.]) - 2.0 / 3.0).abs() < 1e-12);
        assert!((kendall(&[1., 2., 3., 4., 5.], &[5., 4., 3., 2., 1.]) + 1.0).abs() < 1e-12);
        assert!((kendall(&[1., 2., 2., 3.], &[1., 2., 3., 3.]) - 0.8).abs() < 1e-12);
    }

    #[test]
    fn highest_score_first_with_stable_ties_and_nan_last() {
        assert_eq!(order_by_score(&[0.1, 0.5, f64::NAN, 0.5, -1.0]), vec![1, 3, 0, 4, 2]);
        assert_eq!(ranks(&[1, 3, 0, 4, 2]), vec![2, 0, 4, 1, 3]);
    }

    #[test]
    fn spearman_of_monotone_maps_is_one_and_of_reversal_minus_one() {
        let a = [0.3, 0.1, 0.9, 0.5];
        let b: Vec<f64> = a.iter().map(|x| x * x * 10.0 + 1.0).collect();
        assert!((spearman(&a, &b) - 1.0).abs() < 1e-12);
        let c: Vec<f64> = a.iter().map(|x| -x).collect();
        assert!((spearman(&a, &c) + 1.0).abs() < 1e-12);
    }

    #[test]
    fn spearman_uses_average_ranks_for_ties() {
        // Average ranks: a -> [0, 1.5, 1.5, 3, 4], b -> [1, 0, 2.5, 2.5, 4]; Pearson of those, by
        // python3 -c "import math; a=[0,1.5,1.5,3,4]; b=[1,0,2.5,2.5,4]; ma=sum(a)/5; mb=sum(b)/5;
        //   print(sum((x-ma)*(y-mb) for x,y in zip(a,b))/math.sqrt(sum((x-ma)**2 for x in a)*sum((y-mb)**2 for y in b)))"
        // -> 0.7631578947368421
        let rho = spearman(&[1.0, 2.0, 2.0, 3.0, 5.0], &[2.0, 1.0, 4.0, 4.0, 6.0]);
        assert!((rho - 0.763_157_894_736_842_1).abs() < 1e-12, "{rho}");
    }
}
