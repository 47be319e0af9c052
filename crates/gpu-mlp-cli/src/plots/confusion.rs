//! `eval --confusion-png`'s heat map.

use super::canvas::{centred, font, render, GREY, LIGHT_GREY};
use gpu_mlp::error::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// `eval --confusion-png`: a heat map of the confusion matrix (rows: true class, columns:
/// predicted class), shaded by the square root of the fraction of each true class (so rare
/// confusions show), with the counts written in.
pub fn confusion_heatmap(
    path: &Path,
    matrix: &[Vec<usize>],
    class_names: &[String],
    title: &str,
) -> Result<()> {
    let n = matrix.len().max(1);
    let cell = (700 / n as u32).clamp(14, 70);
    let text_size = (cell / 4).clamp(8, 15);
    let label_w = 150u32;
    let (grid_x, grid_y) = (label_w + 40, 90u32);
    let size = (grid_x + cell * n as u32 + 40, grid_y + cell * n as u32 + 90);
    render(path, size, |root| {
        root.draw_text(title, &centred(20, &BLACK), (size.0 as i32 / 2, 22))?;
        root.draw_text(
            "predicted class",
            &centred(16, &BLACK),
            ((grid_x + cell * n as u32 / 2) as i32, 56),
        )?;
        root.draw_text(
            "true class",
            &font(16).pos(Pos::new(HPos::Right, VPos::Center)),
            (grid_x as i32 - 8, grid_y as i32 - 14),
        )?;
        let name = |c: usize| match class_names.get(c) {
            Some(n) if *n != c.to_string() => format!("{c} {n}"),
            _ => c.to_string(),
        };
        for (t, row) in matrix.iter().enumerate() {
            let total = row.iter().sum::<usize>().max(1) as f64;
            let y = (grid_y + t as u32 * cell) as i32;
            root.draw_text(
                &name(t),
                &font(text_size + 1).pos(Pos::new(HPos::Right, VPos::Center)),
                (grid_x as i32 - 8, y + cell as i32 / 2),
            )?;
            for (p, &count) in row.iter().enumerate() {
                let x = (grid_x + p as u32 * cell) as i32;
                // White to matplotlib's dark blue; the square root makes the few mistakes
                // visible next to the large diagonal.
                let shade = (count as f64 / total).sqrt();
                let mix = |full: u8| (255.0 - shade * (255.0 - full as f64)).round() as u8;
                let fill = RGBColor(mix(8), mix(48), mix(107));
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell as i32, y + cell as i32)],
                    fill.filled(),
                ))?;
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell as i32, y + cell as i32)],
                    LIGHT_GREY.stroke_width(1),
                ))?;
                if count > 0 && cell >= 24 {
                    let ink = if shade > 0.6 { WHITE } else { BLACK };
                    root.draw_text(
                        &count.to_string(),
                        &centred(text_size, &ink),
                        (x + cell as i32 / 2, y + cell as i32 / 2),
                    )?;
                }
            }
        }
        // Column labels: class indices (names are on the rows; long names would overlap).
        for p in 0..matrix.len() {
            let x = (grid_x + p as u32 * cell + cell / 2) as i32;
            root.draw_text(
                &p.to_string(),
                &centred(text_size + 1, &BLACK),
                (x, grid_y as i32 - 14),
            )?;
        }
        let bottom = (grid_y + cell * n as u32) as i32;
        let total: usize = matrix.iter().flatten().sum();
        let correct: usize = (0..matrix.len()).map(|i| matrix[i][i]).sum();
        root.draw_text(
            &format!(
                "{correct} of {total} right ({:.2}%); shade: square root of the fraction of the true class",
                100.0 * correct as f64 / total.max(1) as f64
            ),
            &centred(14, &GREY),
            (size.0 as i32 / 2, bottom + 40),
        )?;
        Ok(())
    })
}
