Mon Jan  6 00:00:00 2025 Info: Begin Logfile
Mon Jan  6 00:00:00 2025 Info: Version: 15.0.0-104 SN: 4229A1B2C3D4E5F6A7B8-0A1B2C3D4E5F
Mon Jan  6 00:00:00 2025 Info: Time offset from UTC: 3600 seconds
Mon Jan  6 00:00:00 2025 Info: New SMTP ICID 100 interface IncomingMail (192.0.2.1) address 198.51.100.101 reverse dns host unknown verified no
Mon Jan  6 00:00:00 2025 Info: ICID 100 ACCEPT SG None match ALL SBRS None
Mon Jan  6 00:00:00 2025 Info: MID 1000 ICID 100 From: <user100@example.com>
Mon Jan  6 00:00:00 2025 Info: SMTP Auth: (ICID 100) succeeded for user: user15 using AUTH mechanism: PLAIN with profile: CorpAuth
Mon Jan  6 00:00:00 2025 Info: ICID 100 close
Mon Jan  6 00:00:01 2025 Info: New SMTP ICID 101 interface IncomingMail (192.0.2.1) address 198.51.100.102 reverse dns host unknown verified no
Mon Jan  6 00:00:01 2025 Info: ICID 101 ACCEPT SG None match ALL SBRS None
Mon Jan  6 00:00:01 2025 Info: MID 1010 ICID 101 From: <user101@example.com>
Mon Jan  6 00:00:01 2025 Info: SMTP Auth: (ICID 101) succeeded for user: user16 using AUTH mechanism: PLAIN with profile: CorpAuth
Mon Jan  6 00:00:01 2025 Info: ICID 101 close
Mon Jan  6 00:00:02 2025 Info: New SMTP ICID 102 interface IncomingMail (192.0.2.1) address 198.51.100.103 reverse dns host unknown verified no
Mon Jan  6 00:00:02 2025 Info: ICID 102 ACCEPT SG None match ALL SBRS None
Mon Jan  6 00:00:02 2025 Info: MID 1020 ICID 102 From: <user102@example.com>
Mon Jan  6 00:00:02 2025 Info: SMTP Auth: (ICID 102) failed for user: user0 using AUTH mechanism: PLAIN with profile: CorpAuth
Mon Jan  6 00:00:02 2025 Info: ICID 102 close
Mon Jan  6 00:00:03 2025 Info: New SMTP ICID 103 interface IncomingMail (192.0.2.1) address 198.51.100.104 reverse dns host unknown verified no
Mon Jan  6 00:00:03 2025 Info: ICID 103 ACCEPT SG None match ALL SBRS None
Mon Jan  6 00:00:03 2025 Info: MID 1030 ICID 103 From: <user103@example.com>
Mon Jan  6 00:00:03 2025 Info: SMTP Auth: (ICID 103) succeeded for user: user1 using AUTH mechanism: PLAIN with profile: CorpAuth
Mon Jan  6 00:00:03 2025 Info: ICID 103 close
Mon Jan  6 00:00:04 2025 Info: New SMTP ICID 104 interface IncomingMail (192.0.2.1) address 198.51.100.105 reverse dns host unknown verified no
Mon Jan  6 00:00:04 2025 Info: ICID 104 ACCEPT SG None match ALL SBRS None
Mon Jan  6 00:00:04 2025 Info: MID 1040 ICID 104 From: <user104@example.com>
Mon Jan  6 00:00:04 2025 Info: SMTP Auth: (ICID 104) succeeded for user: user2 using AUTH mechanism: PLAIN with profile: CorpAuth
Mon Jan  6 00:00:04 2025 Info: ICID 104 close
Mon Jan  6 00:00:05 2025 Info: New SMTP ICID 105 interface IncomingMail (192.0.2.1) address 198.51.100.106 reverse dns host unknown verified no
Mon Jan  6 00:00:05 2025 Info: ICID 105 ACCEPT SG None match ALL SBRS None
Mon Jan  6 00:00:05 2025 Info: MID 1050 ICID 105 From: <user105@example.com>
Mon Jan  6 00:00:05 2025 Info: SMTP Auth: (ICID 105) failed for user: user3 using AUTH mechanism: PLAIN with profile: CorpAuth
Mon Jan  6 00:00:05 2025 Info: ICID 105 close
Mon Jan  6 00:00:06 2025 Info: New SMTP ICID 106 interface IncomingMail (192.0.2.1) address 198.51.100.107 reverse dns host unknown verified no
Mon Jan  6 00:00:06 2025 Info: ICID 106 ACCEPT SG None match ALL SBRS None
Mon Jan  6 00:00:06 2025 Info: MID 1060 ICID 106 From: <user106@example.com>
Mon Jan  6 00:00:06 2025 Info: SMTP Auth: (ICID 106) succeeded for user: user4 using AUTH mechanism: PLAIN with profile: CorpAuth
Mon Jan  6 00:00:06 2025 Info: ICID 106 close
Mon Jan  6 00:00:07 2025 Info: New SMTP ICID 107 interface IncomingMail (192.0.2.1) address 198.51.100.108 reverse dns host unknown verified no
Mon Jan  6 00:00:07 2025 Info: ICID 107 ACCEPT SG None match ALL SBRS None
Mon Jan  6 00:00:07 2025 Info: MID 1070 ICID 107 From: <user107@example.com>
Mon Jan  6 00:00:07 2025 Info: SMTP Auth: (ICID 107) succeeded for user: user5 using AUTH mechanism: PLAIN with profile: CorpAuth
Mon Jan  6 00:00:07 2025 Info: ICID 107 close
Mon Jan  6 00:00:08 2025 Info: New SMTP ICID 108 interface IncomingMail (192.0.2.1) address 198.51.100.109 reverse dns host unknown verified no
Mon Jan  6 00:00:08 2025 Info: ICID 108 ACCEPT SG None match ALL SBRS None
Mon Jan  6 00:00:08 2025 Info: MID 1080 ICID 108 From: <user108@example.com>
Mon Jan  6 00:00:08 2025 Info: SMTP Auth: (ICID 108) failed for user: user6 using AUTH mechanism: PLAIN with profile: CorpAuth
Mon Jan  6 00:00:08 2025 Info: ICID 108 close
Mon Jan  6 00:00:09 2025 Info: New SMTP ICID 109 interface IncomingMail (192.0.2.1) address 198.51.100.110 reverse dns host unknown verified no
Mon Jan  6 00:00:09 2025 Info: ICID 109 ACCEPT SG None match ALL SBRS None
Mon Jan  6 00:00:09 2025 Info: MID 1090 ICID 109 From: <user109@example.com>
Mon Jan  6 00:00:09 2025 Info: SMTP Auth: (ICID 109) succeeded for user: user7 using AUTH mechanism: PLAIN with profile: CorpAuth
Mon Jan  6 00:00:09 2025 Info: ICID 109 close
Mon Jan  6 00:00:10 2025 Info: New SMTP ICID 110 interface IncomingMail (192.0.2.1) address 198.51.100.111 reverse dns host unknown verified no
Mon Jan  6 00:00:10 2025 Info: ICID 110 ACCEPT SG None match ALL SBRS None
Mon Jan  6 00:00:10 2025 Info: MID 1100 ICID 110 From: <user110@example.com>
Mon Jan  6 00:00:10 2025 Info: SMTP Auth: (ICID 110) succeeded for user: user8 using AUTH mechanism: PLAIN with profile: CorpAuth
Mon Jan  6 00:00:10 2025 Info: ICID 110 close
