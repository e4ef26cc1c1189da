(module
  ;; Nearest and second-nearest neighbours, both ways, between n query and m candidate binary
  ;; descriptors of 256 bits (32 bytes each, at $q and $c), by Hamming distance.
  ;; Writes, as i32 arrays: at $rows, 3 per query row (best column, best distance, second
  ;; distance); at $cols, 3 per candidate column (best row, best distance, second distance).
  (memory (export "memory") 1)
  (func (export "nearest")
    (param $q i32) (param $n i32) (param $c i32) (param $m i32) (param $rows i32) (param $cols i32)
    (local $i i32) (local $j i32) (local $qp i32) (local $cp i32) (local $colp i32)
    (local $a i64) (local $b i64) (local $x i64) (local $y i64)
    (local $d i32) (local $d1 i32) (local $d2 i32) (local $best i32)
    ;; every column starts with no best row and distances above any real one
    (local.set $colp (local.get $cols))
    (block $init_done
      (loop $init
        (br_if $init_done (i32.ge_u (local.get $j) (local.get $m)))
        (i32.store (local.get $colp) (i32.const -1))
        (i32.store offset=4 (local.get $colp) (i32.const 0xffff))
        (i32.store offset=8 (local.get $colp) (i32.const 0xffff))
        (local.set $colp (i32.add (local.get $colp) (i32.const 12)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $init)))
    (block $rows_done
      (loop $row
        (br_if $rows_done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $qp (i32.add (local.get $q) (i32.shl (local.get $i) (i32.const 5))))
        (local.set $a (i64.load (local.get $qp)))
        (local.set $b (i64.load offset=8 (local.get $qp)))
        (local.set $x (i64.load offset=16 (local.get $qp)))
        (local.set $y (i64.load offset=24 (local.get $qp)))
        (local.set $cp (local.get $c))
        (local.set $colp (local.get $cols))
        (local.set $d1 (i32.const 0xffff))
        (local.set $d2 (i32.const 0xffff))
        (local.set $best (i32.const -1))
        (local.set $j (i32.const 0))
        (block $cols_done
          (loop $col
            (br_if $cols_done (i32.ge_u (local.get $j) (local.get $m)))
            (local.set $d
              (i32.wrap_i64
                (i64.add
                  (i64.add
                    (i64.popcnt (i64.xor (local.get $a) (i64.load (local.get $cp))))
                    (i64.popcnt (i64.xor (local.get $b) (i64.load offset=8 (local.get $cp)))))
                  (i64.add
                    (i64.popcnt (i64.xor (local.get $x) (i64.load offset=16 (local.get $cp))))
                    (i64.popcnt (i64.xor (local.get $y) (i64.load offset=24 (local.get $cp))))))))
            ;; the row's best and second
            (if (i32.lt_u (local.get $d) (local.get $d1))
              (then
                (local.set $d2 (local.get $d1))
                (local.set $d1 (local.get $d))
                (local.set $best (local.get $j)))
              (else
                (if (i32.lt_u (local.get $d) (local.get $d2))
                  (then (local.set $d2 (local.get $d))))))
            ;; the column's best and second
            (if (i32.lt_u (local.get $d) (i32.load offset=4 (local.get $colp)))
              (then
                (i32.store offset=8 (local.get $colp) (i32.load offset=4 (local.get $colp)))
                (i32.store offset=4 (local.get $colp) (local.get $d))
                (i32.store (local.get $colp) (local.get $i)))
              (else
                (if (i32.lt_u (local.get $d) (i32.load offset=8 (local.get $colp)))
                  (then (i32.store offset=8 (local.get $colp) (local.get $d))))))
            (local.set $cp (i32.add (local.get $cp) (i32.const 32)))
            (local.set $colp (i32.add (local.get $colp) (i32.const 12)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $col)))
        (i32.store (local.get $rows) (local.get $best))
        (i32.store offset=4 (local.get $rows) (local.get $d1))
        (i32.store offset=8 (local.get $rows) (local.get $d2))
        (local.set $rows (i32.add (local.get $rows) (i32.const 12)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $row)))))
