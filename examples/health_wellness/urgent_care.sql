-- Patients who need urgent care (the post's Figure 4): anomalies across device data (KV store),
-- recent claims and the profile (MariaDB), and the claim history (the lake), in one statement.
SELECT p.patient_id, p.name, p.conditions,
       d.resting_pulse, d.sleep_hours, d.steps,
       c.er_claims_30d, c.last_diagnosis,
       h.er_visits_5y, h.paid_5y
FROM ehr.patients p
JOIN devices.daily d ON d.patient_id = p.patient_id
JOIN (SELECT patient_id, count(*) AS er_claims_30d, max(diagnosis) AS last_diagnosis
      FROM ehr.claims
      WHERE kind = 'er' AND claim_date >= DATE '2026-11-01'
      GROUP BY patient_id) c ON c.patient_id = p.patient_id
JOIN (SELECT patient_id, CAST(sum(er_visits) AS INT) AS er_visits_5y, round(sum(paid), 2) AS paid_5y
      FROM claims.history
      WHERE year >= 2021
      GROUP BY patient_id) h ON h.patient_id = p.patient_id
WHERE p.conditions <> ''
  AND (d.resting_pulse > 100 OR d.sleep_hours < 4.5 OR d.steps < 1500)
ORDER BY d.resting_pulse DESC, p.patient_id
