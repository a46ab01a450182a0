//! Plain-text tables with aligned columns, and number formatting.

pub struct Table {
    pub title: String,
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(title: impl Into<String>, head: &[&str]) -> Table {
        Table { title: title.into(), head: head.iter().map(|s| s.to_string()).collect(), rows: Vec::new() }
    }

    /// A two-column "metric | value" table.
    pub fn kv(title: impl Into<String>) -> Table {
        Table::new(title, &["metric", "value"])
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn add(&mut self, k: &str, v: impl Into<String>) {
        self.rows.push(vec![k.to_string(), v.into()]);
    }

    pub fn render(&self) -> String {
        let cols = self.head.len();
        let mut w = vec![0usize; cols];
        for r in std::iter::once(&self.head).chain(&self.rows) {
            for (i, c) in r.iter().enumerate().take(cols) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let line = |r: &Vec<String>| -> String {
            let mut s = String::new();
            for (i, width) in w.iter().enumerate() {
                let c = r.get(i).map(String::as_str).unwrap_or("");
                let pad = width - c.chars().count();
                // First column left-aligned, the others right-aligned (numbers), except a
                // two-column key/value table whose values read better left-aligned.
                if i == 0 || (cols == 2 && self.head[0] == "metric") {
                    s.push_str(c);
                    if i + 1 < cols {
                        s.push_str(&" ".repeat(pad));
                    }
                } else {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                }
                if i + 1 < cols {
                    s.push_str("  ");
                }
            }
            s.trim_end().to_string()
        };
        let mut out = format!("{}\n", self.title);
        out.push_str(&line(&self.head));
        out.push('\n');
        let total: usize = w.iter().sum::<usize>() + 2 * (cols.saturating_sub(1));
        out.push_str(&"-".repeat(total));
        out.push('\n');
        for r in &self.rows {
            out.push_str(&line(r));
            out.push('\n');
        }
        out
    }
}

/// 1234567.8 -> "1,234,568"
pub fn int(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let n = v.round() as i64;
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Nanoseconds as milliseconds with sensible precision.
pub fn ms(ns: Option<u64>) -> String {
    match ns {
        None => "-".into(),
        Some(ns) => {
            let v = ns as f64 / 1e6;
            if v < 10.0 {
                format!("{v:.2}")
            } else if v < 100.0 {
                format!("{v:.1}")
            } else {
                format!("{v:.0}")
            }
        }
    }
}

pub fn ms_f(ns: Option<u64>) -> serde_json::Value {
    match ns {
        None => serde_json::Value::Null,
        Some(ns) => serde_json::json!((ns as f64 / 1e4).round() / 100.0),
    }
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

pub fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "n/a".into())
}
